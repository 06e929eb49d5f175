"""Every change to the knowledge base, one module per object it serves; the names are re-exported here
so callers keep writing ``from knowledge import services`` and ``services.page_create``."""

from knowledge.services.attachments import (
    ATTACHMENT_TYPES,
    attachment_add,
    attachment_delete,
    attachment_name,
    max_attachment_bytes,
)
from knowledge.services.imports import (
    ImportResult,
    space_create_from_project,
    space_import_archive,
    space_import_directory,
)
from knowledge.services.pages import (
    EditConflict,
    max_page_bytes,
    page_create,
    page_delete,
    page_move,
    page_revert,
    page_update,
    pages_render_outdated,
    parse_tags,
    unified_diff,
)
from knowledge.services.service_docs import (
    TECHDOCS_ANNOTATION,
    service_docs_build_request,
    service_docs_build_run,
    service_docs_dir,
    service_docs_source,
)
from knowledge.services.sites import (
    EXPORT_MAX_DEPTH,
    built_site_root,
    built_site_token,
    site_build_request,
    site_build_run,
    sites_dir,
    space_export_project,
    space_export_zip,
)
from knowledge.services.spaces import space_create, space_delete, space_update
from portal.services import PermissionDenied, ServiceError

__all__ = [
    "ATTACHMENT_TYPES",
    "EXPORT_MAX_DEPTH",
    "EditConflict",
    "ImportResult",
    "PermissionDenied",
    "ServiceError",
    "TECHDOCS_ANNOTATION",
    "attachment_add",
    "attachment_delete",
    "attachment_name",
    "built_site_root",
    "built_site_token",
    "max_attachment_bytes",
    "max_page_bytes",
    "page_create",
    "page_delete",
    "page_move",
    "page_revert",
    "page_update",
    "pages_render_outdated",
    "parse_tags",
    "service_docs_build_request",
    "service_docs_build_run",
    "service_docs_dir",
    "service_docs_source",
    "site_build_request",
    "site_build_run",
    "sites_dir",
    "space_create",
    "space_create_from_project",
    "space_delete",
    "space_export_project",
    "space_export_zip",
    "space_import_archive",
    "space_import_directory",
    "space_update",
    "unified_diff",
]
