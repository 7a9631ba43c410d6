"""ma52lib: the reproducible companion to "Benchmarking Micro-action Recognition" (MA-52, MANet)."""

__version__ = "0.1.0"
