"""Console entry points of entropic."""
