"""Render a ServiceSpec through templates into an in-memory tree of files."""
