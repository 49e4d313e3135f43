"""Test-wide settings: one torch thread per process (small models; several processes share few cores)."""
import torch

torch.set_num_threads(1)
