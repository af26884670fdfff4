"""Pure plans domain: no I/O, time comes in as arguments."""
