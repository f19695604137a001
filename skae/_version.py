"""The version of skae, in one place (read by the build without importing skae)."""

__version__ = "0.2.0"
