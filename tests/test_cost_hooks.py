"""Module-hook (thop-style) counting against the dispatch count, thop and Torch-Pruning."""
import torch
import torch.nn.functional as F
import torch_pruning as tp
from torch import nn

from autoprune.cost import count_macs, count_macs_hooks, thop_macs


def plain_cnn(relu: bool = True) -> nn.Sequential:
    act = nn.ReLU if relu else nn.Identity
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(3, 8, 3, bias=False), act(),
        nn.Conv2d(8, 16, 3, stride=2, bias=False), act(),
        nn.Conv2d(16, 16, 3, groups=16, bias=False), act(),  # depthwise layer
        nn.Flatten(), nn.Linear(16 * 4 * 4, 10, bias=False),
    ).eval()


class AttentionBlock(nn.Module):
    """Linear projections (seen by hooks) around functional attention matmuls (not seen)."""

    def __init__(self, dim=24, heads=3):
        super().__init__()
        self.heads = heads
        self.q, self.k, self.v, self.proj = (nn.Linear(dim, dim) for _ in range(4))

    def forward(self, x):
        b, n, c = x.shape
        q, k, v = (f(x).reshape(b, n, self.heads, c // self.heads).transpose(1, 2) for f in (self.q, self.k, self.v))
        attn = (q @ k.transpose(-2, -1)).softmax(-1)
        return self.proj((attn @ v).transpose(1, 2).reshape(b, n, c))


def test_thop_agrees_with_dispatch_count_on_a_plain_cnn():
    net, x = plain_cnn(), torch.randn(1, 3, 16, 16)
    expected = 14 * 14 * 8 * 27 + 6 * 6 * 16 * 72 + 4 * 4 * 16 * 9 + 256 * 10
    assert count_macs(net, x) == expected
    assert count_macs_hooks(net, x) == expected
    assert thop_macs(net, x) == expected


def test_hooks_miss_exactly_the_attention_matmuls():
    block, x = AttentionBlock().eval(), torch.randn(2, 10, 24)
    projections = 4 * 2 * 10 * 24 * 24
    attention_matmuls = 2 * 3 * 10 * 10 * (8 + 8)
    assert count_macs_hooks(block, x) == projections
    assert thop_macs(block, x) == projections
    assert count_macs(block, x) == projections + attention_matmuls


def test_hooks_miss_the_functional_cross_correlation():
    conv = nn.Conv2d(4, 4, 3, bias=False)

    def siamese(z, x):
        kernel, search = conv(z), conv(x)
        return F.conv2d(search, kernel.reshape(4, 1, 5, 5), groups=4)

    z, x = torch.randn(1, 4, 7, 7), torch.randn(1, 4, 15, 15)
    xcorr = 4 * 9 * 9 * 25
    assert count_macs(siamese, z, x) - count_macs_hooks(siamese, z, x) == xcorr


def test_multihead_attention_projections_counted_by_hooks_but_not_by_thop():
    mha, x = nn.MultiheadAttention(16, 4).eval(), torch.randn(6, 1, 16)  # sequence-first
    projections = 4 * 6 * 16 * 16
    assert count_macs_hooks(mha, x, x, x) == projections
    assert thop_macs(mha, x, x, x) == 0  # thop has no rule for MHA and its out_proj subclass
    assert count_macs(mha, x, x, x) == projections + 6 * 6 * 2 * 16


def test_torch_pruning_counter_agrees_where_it_counts_only_products():
    # Torch-Pruning also counts activations; without them the three counts are one number.
    net, x = plain_cnn(relu=False), torch.randn(1, 3, 16, 16)
    tp_macs, tp_params = tp.utils.count_ops_and_params(net, x)
    assert int(tp_macs) == count_macs(net, x) == count_macs_hooks(net, x)
    assert int(tp_params) == sum(p.numel() for p in net.parameters())


def test_thop_leaves_the_model_as_found():
    block = AttentionBlock()
    block.q.eval()  # mixed flags must survive
    keys = list(block.state_dict())
    thop_macs(block.forward, torch.randn(1, 4, 24))
    assert list(block.state_dict()) == keys
    assert block.training and not block.q.training and block.k.training


def test_hook_breakdown_names_layers():
    net = plain_cnn()
    count = count_macs_hooks(net, torch.randn(1, 3, 16, 16))
    assert set(count.by_module) == {"0", "2", "4", "7"}
    assert count.by_op == {"Conv2d": count - 2560, "Linear": 2560}
