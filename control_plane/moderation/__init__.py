"""Venue moderation: a venue owner's say over which ads play on their own screens."""
