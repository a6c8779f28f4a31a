"""The Textual UI: Horizon in a terminal."""
