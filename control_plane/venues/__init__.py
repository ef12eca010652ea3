"""Venues and their screens: where ads play, when the venue is open, what it refuses to show."""
