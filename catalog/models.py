"""Catalog entities in Backstage's descriptor format, and relations between them."""

from functools import lru_cache

from django.conf import settings
from django.db import models


class Kind(models.TextChoices):
    COMPONENT = "Component"
    API = "API"
    SYSTEM = "System"
    DOMAIN = "Domain"
    RESOURCE = "Resource"
    GROUP = "Group"
    USER = "User"
    LOCATION = "Location"
    TEMPLATE = "Template"


SOFTWARE_KINDS = ("Component", "API", "Resource", "System", "Domain")
"""Kinds that are software or run somewhere: the ones docs, runbooks and pipelines are about.

Groups, Users, Locations and (Backstage's software) Templates are people, places and recipes.
"""


@lru_cache(maxsize=1)
def catalog_root() -> str:
    from django.urls import reverse

    return reverse("catalog:index")


def entity_url(kind: str, namespace: str, name: str) -> str:
    """The URL of ``catalog:entity`` without a reverse() per row: list pages build hundreds of them."""
    return f"{catalog_root()}{kind}/{namespace}/{name}/"


class Entity(models.Model):
    """One catalog entity, addressed by ``kind:namespace/name``.

    The descriptor's fields are kept as given (``spec`` holds the whole spec);
    a few derived columns (``ref_key``, ``owner_ref``, ``system_ref``,
    ``tag_text``, ``search_text``) exist so that lookups, filters and facets
    are single indexed queries. ``fingerprint`` is a hash of the descriptor
    and its source: an import that finds the same fingerprint writes nothing.
    """

    kind = models.CharField(max_length=20, choices=Kind.choices)
    namespace = models.CharField(max_length=63, default="default")
    name = models.CharField(max_length=63)
    title = models.CharField(max_length=200, blank=True)
    description = models.TextField(blank=True)
    spec_type = models.CharField("type", max_length=100, blank=True)
    lifecycle = models.CharField(max_length=100, blank=True)
    labels = models.JSONField(default=dict, blank=True)
    annotations = models.JSONField(default=dict, blank=True)
    tags = models.JSONField(default=list, blank=True)
    links = models.JSONField(default=list, blank=True)
    spec = models.JSONField(default=dict, blank=True)
    portal_user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="catalog_user",
        help_text="For User entities: the portal account of this person.",
    )
    api_version = models.CharField(max_length=100, default="backstage.io/v1alpha1")
    ref_key = models.CharField(max_length=150, null=True, editable=False, help_text="kind:namespace/name, lower case")
    owner_ref = models.CharField(max_length=150, blank=True, editable=False)
    system_ref = models.CharField(max_length=150, blank=True, editable=False)
    tag_text = models.CharField(max_length=2000, blank=True, editable=False, help_text=",tag1,tag2,")
    search_text = models.TextField(blank=True, editable=False, help_text="name, title and description, lower case")
    source = models.CharField(
        max_length=1000, blank=True, help_text="Where the descriptor was imported from; empty if edited."
    )
    orphaned = models.BooleanField(default=False)
    fingerprint = models.CharField(max_length=64, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "entities"
        ordering = ["kind", "namespace", "name"]
        constraints = [
            # ref_key is kind:namespace/name in lower case: unique per kind and namespace, case-insensitively.
            models.UniqueConstraint(fields=["ref_key"], name="catalog_entity_unique_ref_ci"),
        ]
        # Plain indexes only (no varchar_pattern_ops twins): every index costs on a 20,000-row import.
        indexes = [
            models.Index(fields=["kind", "name"], name="catalog_entity_kind_name"),
            # The list's order; with the id in it, a page's ids are an index-only scan however deep the page.
            models.Index(fields=["name", "kind", "id"], name="catalog_entity_name_kind"),
            models.Index(fields=["spec_type"], name="catalog_entity_type"),
            models.Index(fields=["lifecycle"], name="catalog_entity_lifecycle"),
            models.Index(fields=["owner_ref"], name="catalog_entity_owner"),
            models.Index(fields=["system_ref"], name="catalog_entity_system"),
            models.Index(fields=["source"], name="catalog_entity_source"),
            models.Index(fields=["orphaned"], name="catalog_entity_orphaned", condition=models.Q(orphaned=True)),
        ]

    def __str__(self) -> str:
        return self.ref

    def get_absolute_url(self) -> str:
        return entity_url(self.kind, self.namespace, self.name)

    @property
    def ref(self) -> str:
        return f"{self.kind.lower()}:{self.namespace}/{self.name}"

    @property
    def display_name(self) -> str:
        """The title, else a User's or Group's ``spec.profile.displayName`` (as Backstage shows them), else the name."""
        return self.title or self.profile_display_name or self.name

    @property
    def profile_display_name(self) -> str:
        """``spec.profile.displayName``, read only if ``spec`` is loaded (or a list annotated it): never a query.

        Lists load a few columns; ``selectors.relations_of`` annotates the name instead of loading whole specs.
        """
        if self.kind not in (Kind.USER, Kind.GROUP):
            return ""
        if "_profile_display_name" in self.__dict__:
            value = self.__dict__["_profile_display_name"]
        else:
            spec = self.__dict__.get("spec")
            profile = spec.get("profile") if isinstance(spec, dict) else None
            value = profile.get("displayName") if isinstance(profile, dict) else None
        return value.strip() if isinstance(value, str) else ""

    @property
    def short_ref(self) -> str:
        """``kind:name`` in the default namespace, ``kind:namespace/name`` elsewhere."""
        if self.namespace == "default":
            return f"{self.kind.lower()}:{self.name}"
        return self.ref


class Relation(models.Model):
    """A directed relation ``source --type--> target``, kept in both directions.

    Either end may not exist yet: ``source_ref``/``target_ref`` always hold the
    reference and the foreign keys are filled when the entity appears
    (unresolved relations resolve by themselves). ``origin`` is the entity
    whose descriptor produced the row: re-importing it replaces its rows.
    """

    source = models.ForeignKey(
        Entity,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="relations",
        db_index=False,
        db_constraint=False,
    )
    source_ref = models.CharField(max_length=150, default="", help_text="kind:namespace/name, lower case")
    type = models.CharField(max_length=40)
    target_ref = models.CharField(max_length=150, help_text="kind:namespace/name, lower case")
    target = models.ForeignKey(
        Entity, null=True, blank=True, on_delete=models.SET_NULL, related_name="incoming_relations", db_constraint=False
    )
    origin = models.ForeignKey(
        Entity, null=True, blank=True, on_delete=models.CASCADE, related_name="emitted_relations", db_constraint=False
    )

    class Meta:
        # The foreign keys have no database constraint: Django applies on_delete itself, and
        # 140,000 deferred constraint checks would double the time of a large import.
        # Duplicates are removed before writing (see catalog.services); no unique index, to keep imports fast.
        indexes = [
            models.Index(fields=["source", "type"], name="catalog_relation_source_type"),
            models.Index(
                fields=["target_ref"], name="catalog_relation_unresolved", condition=models.Q(target__isnull=True)
            ),
            models.Index(
                fields=["source_ref"], name="catalog_relation_no_source", condition=models.Q(source__isnull=True)
            ),
        ]

    def __str__(self) -> str:
        return f"{self.source_ref} {self.type} {self.target_ref}"

    @property
    def is_resolved(self) -> bool:
        return self.target_id is not None


class CatalogVersion(models.Model):
    """One row whose number changes with every change to the catalog.

    Counts and facets are cached per version in each process: any import,
    edit or deletion bumps it in the same transaction, so no process ever
    shows a count older than the data (a key read is one primary-key lookup).
    """

    version = models.BigIntegerField(default=0)

    def __str__(self) -> str:
        return f"catalog version {self.version}"


class Level(models.TextChoices):
    BRONZE = "bronze", "Bronze"
    SILVER = "silver", "Silver"
    GOLD = "gold", "Gold"


LEVEL_ORDER = [Level.BRONZE, Level.SILVER, Level.GOLD]


class Scorecard(models.Model):
    """A set of rules, each at a level; applies to entities by kind, type and/or tag (empty: any)."""

    name = models.CharField(max_length=100, unique=True)
    description = models.TextField(blank=True)
    applies_to_kind = models.CharField(max_length=20, choices=Kind.choices, blank=True)
    applies_to_type = models.CharField(max_length=100, blank=True)
    applies_to_tag = models.CharField(max_length=63, blank=True)
    rules = models.JSONField(default=list, help_text="[{level, check, param}], see catalog.scorecards")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class ScorecardResult(models.Model):
    """The latest evaluation of one scorecard for one entity."""

    scorecard = models.ForeignKey(Scorecard, on_delete=models.CASCADE, related_name="results")
    entity = models.ForeignKey(Entity, on_delete=models.CASCADE, related_name="scorecard_results")
    level = models.CharField(max_length=10, choices=Level.choices, blank=True, help_text="Empty: not even Bronze")
    outcomes = models.JSONField(default=list, help_text="[{level, check, param, status, message, fix}]")
    computed_at = models.DateTimeField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["scorecard", "entity"], name="catalog_scorecard_result_unique")]
        indexes = [models.Index(fields=["scorecard", "level"], name="catalog_score_level")]

    def __str__(self) -> str:
        return f"{self.scorecard} {self.entity}: {self.level or 'none'}"

    @property
    def failing(self) -> list[dict]:
        return [o for o in self.outcomes if o["status"] == "fail"]


class LocationStatus(models.TextChoices):
    PENDING = "pending", "Not read yet"
    OK = "ok", "Read"
    ERROR = "error", "Could not be read"


class CatalogLocation(models.Model):
    """A catalog file in a Git repository that Bridge reads and follows.

    Registered by URL (a GitHub or GitLab ``blob`` URL) or as repository + ref + path, or
    found by a :class:`Discovery`. Entities read from it have the source
    ``location:<id>:<path>``; removing the location orphans them. ``files`` remembers, for
    every file the last read used (the catalog file, its Location targets, ``$text``/``$json``/
    ``$yaml`` files, glob listings), the version the host gave (ETag or blob id), so a refresh
    can ask "changed since?" and write nothing when nothing changed. Plain Git compares the
    commit SHA (``commit_sha``) instead.
    """

    provider = models.CharField(max_length=10, help_text="github, gitlab or git (the integration's type)")
    host = models.CharField(max_length=255, help_text="The integration's host")
    repository = models.CharField(max_length=500, help_text="owner/name or group/.../project")
    clone_url = models.CharField(max_length=1000)
    web_url = models.CharField(max_length=1000, blank=True)
    ref = models.CharField(max_length=255)
    path = models.CharField(max_length=1000)
    discovery = models.ForeignKey(
        "Discovery", null=True, blank=True, on_delete=models.SET_NULL, related_name="locations"
    )
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)
    status = models.CharField(max_length=10, choices=LocationStatus.choices, default=LocationStatus.PENDING)
    refreshed_at = models.DateTimeField(null=True, blank=True, help_text="When its content was last read")
    changed_at = models.DateTimeField(null=True, blank=True, help_text="When a read last changed the catalog")
    commit_sha = models.CharField(max_length=64, blank=True)
    files = models.JSONField(default=dict, blank=True, help_text="{path: {kind, version}} of the last read")
    last_changes = models.JSONField(default=dict, blank=True, help_text="{created, updated, orphaned} refs")
    problems = models.JSONField(default=list, blank=True, help_text="Problems of the last read")
    conflicts = models.JSONField(default=list, blank=True, help_text="Entities another source owns")
    error = models.TextField(blank=True, help_text="Why the last read failed")
    retry_at = models.DateTimeField(null=True, blank=True, help_text="Rate-limited: not before this time")

    class Meta:
        ordering = ["host", "repository", "path"]
        constraints = [
            models.UniqueConstraint(fields=["host", "repository", "ref", "path"], name="catalog_location_unique")
        ]
        indexes = [models.Index(fields=["host", "repository"], name="catalog_location_repo")]

    def __str__(self) -> str:
        return self.display

    def get_absolute_url(self) -> str:
        from django.urls import reverse

        return reverse("catalog:location", args=[self.pk])

    @property
    def display(self) -> str:
        return f"{self.repository}@{self.ref}:{self.path}"

    @property
    def source_prefix(self) -> str:
        return f"location:{self.pk}:"

    @property
    def file_url(self) -> str:
        """The file's page on its host (for people; Bridge reads through the API or Git)."""
        base = self.web_url or self.clone_url.removesuffix(".git")
        if self.provider == "github":
            return f"{base}/blob/{self.ref}/{self.path}"
        if self.provider == "gitlab":
            return f"{base}/-/blob/{self.ref}/{self.path}"
        return base


class Discovery(models.Model):
    """A GitHub organisation or GitLab group (with subgroups) whose repositories' catalog files Bridge registers.

    Each scan lists the repositories, skips archived ones and those the patterns leave out,
    and keeps one :class:`CatalogLocation` per repository that has the catalog file on its
    default branch. Repositories that are gone (deleted, archived, excluded, or without the
    file) lose their location, and so their entities are orphaned.
    """

    provider = models.CharField(max_length=10)
    host = models.CharField(max_length=255)
    owner = models.CharField(max_length=255, help_text="GitHub organisation (or user) or GitLab group path")
    catalog_path = models.CharField(max_length=500, default="catalog-info.yaml")
    include = models.JSONField(default=list, blank=True, help_text="Repository name patterns (fnmatch); empty: all")
    exclude = models.JSONField(default=list, blank=True, help_text="Repository name patterns to leave out")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)
    scanned_at = models.DateTimeField(null=True, blank=True)
    repositories = models.PositiveIntegerField(default=0, help_text="Repositories seen by the last scan")
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["host", "owner"]
        verbose_name_plural = "discoveries"
        constraints = [
            models.UniqueConstraint(fields=["host", "owner", "catalog_path"], name="catalog_discovery_unique")
        ]

    def __str__(self) -> str:
        return f"{self.host}/{self.owner} ({self.catalog_path})"


class LocationSweep(models.Model):
    """The last scheduled refresh of every location (one row): when it ran and what it found."""

    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    checked = models.PositiveIntegerField(default=0)
    changed = models.PositiveIntegerField(default=0)
    failed = models.PositiveIntegerField(default=0)

    def __str__(self) -> str:
        return f"location sweep {self.finished_at}"


class EntityConflict(models.Model):
    """A source produced an entity that another source owns; its copy was refused and nothing changed.

    As in Backstage, an entity belongs to the source that first produced it (``Entity.source``).
    The row stays while ``source`` keeps producing the entity, so both sources' pages can show
    it; it goes when that source stops, when the entity is deleted, or when a Platform Admin
    moves the entity to ``source`` (then ``descriptor``, the refused copy, is written at once).
    """

    entity = models.ForeignKey(Entity, on_delete=models.CASCADE, related_name="conflicts")
    source = models.CharField(max_length=1000, help_text="The source whose copy was refused.")
    source_label = models.CharField(max_length=1000, blank=True, help_text="The file or name it was read from.")
    document = models.PositiveIntegerField(null=True, blank=True, help_text="1-based, within the file.")
    descriptor = models.JSONField(default=dict, help_text="The refused descriptor, as validated.")
    fingerprint = models.CharField(max_length=64, blank=True)
    first_seen_at = models.DateTimeField()
    last_seen_at = models.DateTimeField()

    class Meta:
        ordering = ["entity_id", "source"]
        constraints = [models.UniqueConstraint(fields=["entity", "source"], name="catalog_conflict_unique")]
        indexes = [models.Index(fields=["source"], name="catalog_conflict_source")]

    def __str__(self) -> str:
        return f"{self.source} also produces entity {self.entity_id}"
