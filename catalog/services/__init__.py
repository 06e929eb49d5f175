"""Every change to the catalog goes through here, one module per object it serves.

The public names (and the few private ones other modules use) are re-exported, so
callers keep writing ``from catalog import services; services.catalog_import_text(...)``.
"""

from catalog.services.common import (
    CATALOG_FILE_NAMES,
    CHUNK,
    ENTITY_FIELDS,
    ImportResult,
    _Parsed,
    _Source,
    catalog_changed,
    entity_ref,
    import_roots,
    upload_limit,
)
from catalog.services.discovery import (
    ScanResult,
    discoveries_scan_all,
    discovery_add,
    discovery_remove,
    discovery_scan,
)
from catalog.services.entities import entity_delete, entity_move, entity_save
from catalog.services.git_locations import (
    LocationOutcome,
    location_add,
    location_refresh,
    location_remove,
    locations_refresh,
    locations_refresh_all,
    locations_refresh_for_push,
)
from catalog.services.imports import (
    _import,
    _parse_sources,
    catalog_import_paths,
    catalog_import_text,
    demo_catalog_ensure,
    upload_source,
)
from catalog.services.orphans import orphans_delete, orphans_digest
from catalog.services.relations import relation_add
from catalog.services.scorecards import scorecard_delete, scorecard_save, scorecards_evaluate
from catalog.services.users import (
    catalog_user_assign,
    catalog_user_claim,
    catalog_user_link_by_email,
    catalog_user_unlink,
    portal_user_link,
    portal_user_unlink,
)
from catalog.services.writing import _write, catalog_vacuum
from portal.services import PermissionDenied, ServiceError

__all__ = [
    "CATALOG_FILE_NAMES",
    "CHUNK",
    "ENTITY_FIELDS",
    "ImportResult",
    "LocationOutcome",
    "ScanResult",
    "PermissionDenied",
    "ServiceError",
    "_Parsed",
    "_Source",
    "_import",
    "_parse_sources",
    "_write",
    "catalog_changed",
    "catalog_import_paths",
    "catalog_import_text",
    "catalog_user_assign",
    "catalog_user_claim",
    "catalog_user_link_by_email",
    "catalog_user_unlink",
    "catalog_vacuum",
    "demo_catalog_ensure",
    "discoveries_scan_all",
    "discovery_add",
    "discovery_remove",
    "discovery_scan",
    "entity_delete",
    "entity_move",
    "entity_ref",
    "entity_save",
    "import_roots",
    "location_add",
    "location_refresh",
    "location_remove",
    "locations_refresh",
    "locations_refresh_all",
    "locations_refresh_for_push",
    "orphans_delete",
    "orphans_digest",
    "portal_user_link",
    "portal_user_unlink",
    "relation_add",
    "scorecard_delete",
    "scorecard_save",
    "scorecards_evaluate",
    "upload_limit",
    "upload_source",
]
