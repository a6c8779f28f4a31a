"""labcloud package."""
