"""The search stage: trials that sample knobs, prune for real and score children into the run's study."""
