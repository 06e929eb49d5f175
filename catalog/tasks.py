"""Celery entry points of the catalog (nightly scorecards come with the catalog issue)."""
