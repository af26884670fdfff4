"""A clinic simulator: weeks of clinic life against the whole system, checked (issue 14)."""
