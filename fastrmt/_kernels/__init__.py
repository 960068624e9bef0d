"""Private Numba kernels.  Not part of the public API; import from :mod:`fastrmt`."""
