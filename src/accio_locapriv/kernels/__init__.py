"""Array kernels of the location-privacy operators: numpy in, numpy out, no I/O."""
