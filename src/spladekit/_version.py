"""The package version, in one place (the package root and the tools read it here)."""

__version__ = "0.1.0"
