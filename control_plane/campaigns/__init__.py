"""Campaigns and their creatives: what advertisers buy, and the reviews it goes through."""
