"""notify's use cases: one transaction each, the state change and its events together."""
