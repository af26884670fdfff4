"""The booking service: the clinic's resources, availability, booking requests and appointments."""
