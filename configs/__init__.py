"""Hydra config tree of entropic (an importable package so configs ship with the wheel)."""
