"""Simulated worlds on real data."""

from simulators.worlds.base import Engagement, SimRequest, World

__all__ = ["Engagement", "SimRequest", "World"]
