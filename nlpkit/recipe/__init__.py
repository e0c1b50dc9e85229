"""Recipes: the schema, loading with --set overrides, checks, problem reports, templates."""
