"""Reads of provisioning data."""
