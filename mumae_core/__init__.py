"""Mu-MAE research kit: multimodal masked autoencoders for one-shot activity recognition."""

__version__ = "0.1.0"
