"""lstmkit: Long Short-Term Memory networks as a practical, fast, trustworthy tool for sequence data."""

__version__ = "0.1.0"

from lstmkit.deploy.saved_model import load

__all__ = ["__version__", "load"]
