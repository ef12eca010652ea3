"""The two shared vocabularies: OpenOOH venue types and IAB Ad Product Taxonomy 2.0 categories."""
