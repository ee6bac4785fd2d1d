"""Studio: fast diffusion image generation on the desktop."""

__version__ = "0.1.0"
