"""Accio: typed workflows, parameter sweeps, keyed seeds and memoized results for experiments."""

__version__ = "0.1.0"

__all__ = ["__version__"]
