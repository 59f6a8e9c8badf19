"""Simulators: worlds on real data, click models, the online loop, replay and off-policy estimators."""
