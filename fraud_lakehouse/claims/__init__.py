"""Claims: the canonical claim model, landing-area ingest and the silver transformations."""
