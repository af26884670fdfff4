"""The plans service: patients, treatment protocols, plans and their cycles of sessions."""
