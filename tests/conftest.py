import os

# Tests run on the CPU with 64-bit floats available for finite-difference checks.
os.environ.setdefault("JAX_PLATFORMS", "cpu")
