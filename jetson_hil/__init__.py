"""jetson-hil: the library behind the Jetson acceptance suite (no pytest imports here)."""

__version__ = "0.1.0"
