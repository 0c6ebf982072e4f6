"""Pieces both sides share: no TensorFlow, no host-side adapters."""
