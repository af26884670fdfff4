"""SMS texts: Jinja2 templates per language and kind, kept within two SMS segments."""
