"""Thin adapters that act on the world: the Docker engine, image registries."""
