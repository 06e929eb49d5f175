"""Adapter to Kubernetes through the official client (the second provisioning issue)."""
