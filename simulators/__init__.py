"""Simulators: worlds on real data, click models, online loop, replay, off-policy estimators."""
