"""Canonical observation, its validation, dead letters, time and logging: what every part shares."""
