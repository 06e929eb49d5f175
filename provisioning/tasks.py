"""Celery entry points for Terraform and Kubernetes runs (the provisioning issue)."""
