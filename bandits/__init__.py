"""bandits package."""
