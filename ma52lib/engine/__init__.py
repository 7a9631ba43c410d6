"""Training and evaluation engine: one code path for CPU, one GPU and torchrun DDP."""
