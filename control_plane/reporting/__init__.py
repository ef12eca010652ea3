"""Reporting: proof-of-play ingestion, rollups, reports and exports (issue 7 fills it in)."""
