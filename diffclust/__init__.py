"""diffclust: differentiable clustering research on JAX."""

__version__ = "0.1.0"
