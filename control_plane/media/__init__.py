"""Media assets: uploads, validation, renditions."""
