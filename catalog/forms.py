"""Forms of the catalog (entity create/edit and import come with the catalog issue)."""
