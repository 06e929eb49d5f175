"""Knowledge base: spaces, pages, revisions, runbooks and mkdocs import/export."""
