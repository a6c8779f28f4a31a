"""labcloud: a small OpenStack for a lab, driven from a terminal UI or headless."""

__version__ = "0.1.0"
