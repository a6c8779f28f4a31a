"""Shell scripts of the tiny guest image, shipped as package data."""
