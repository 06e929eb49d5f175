"""Request forms generated from templates' JSON Schema (the provisioning issue)."""
