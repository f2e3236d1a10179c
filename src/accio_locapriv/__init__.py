"""Location-privacy operators for Accio, registered through the ``accio.operators`` entry point.

Resources: every operator declares ``cpus=1``. The original declared 2 to 6 cores for most of
them, but our kernels are single-threaded numpy/numba, so a larger reservation would only keep
the scheduler from running several nodes at once. Memory declarations follow the original.
"""

__version__ = "0.1.0"
