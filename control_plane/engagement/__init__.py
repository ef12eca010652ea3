"""Engagement: tracked links and QR codes of campaigns, the scans they count, and reports."""
