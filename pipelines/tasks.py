"""Pipelines: CI integrations, webhook receivers, runs, deployments and DORA metrics."""
