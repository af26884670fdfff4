"""notify's pure domain: which messages an appointment needs, and when. No I/O; ``now`` is
always passed in, so the scheduling arithmetic can be property-tested."""
