"""Catalog entities in Backstage's descriptor format, and relations between them."""

from django.conf import settings
from django.db import models
from django.db.models.functions import Lower


class Kind(models.TextChoices):
    COMPONENT = "Component"
    API = "API"
    SYSTEM = "System"
    DOMAIN = "Domain"
    RESOURCE = "Resource"
    GROUP = "Group"
    USER = "User"
    LOCATION = "Location"


class Entity(models.Model):
    """One catalog entity, addressed by ``kind:namespace/name``."""

    kind = models.CharField(max_length=20, choices=Kind.choices, db_index=True)
    namespace = models.CharField(max_length=63, default="default")
    name = models.CharField(max_length=63)
    title = models.CharField(max_length=200, blank=True)
    description = models.TextField(blank=True)
    spec_type = models.CharField("type", max_length=100, blank=True, db_index=True)
    lifecycle = models.CharField(max_length=100, blank=True, db_index=True)
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
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "entities"
        ordering = ["kind", "namespace", "name"]
        constraints = [
            models.UniqueConstraint(
                Lower("kind"), Lower("namespace"), Lower("name"), name="catalog_entity_unique_ref_ci"
            ),
        ]

    def __str__(self) -> str:
        return self.ref

    @property
    def ref(self) -> str:
        return f"{self.kind.lower()}:{self.namespace}/{self.name}"

    @property
    def display_name(self) -> str:
        return self.title or self.name


class Relation(models.Model):
    """A directed relation; its target may not exist yet (unresolved)."""

    source = models.ForeignKey(Entity, on_delete=models.CASCADE, related_name="relations")
    type = models.CharField(max_length=40, db_index=True)
    target_ref = models.CharField(max_length=200, db_index=True, help_text="kind:namespace/name, lower case")
    target = models.ForeignKey(
        Entity, null=True, blank=True, on_delete=models.SET_NULL, related_name="incoming_relations"
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["source", "type", "target_ref"], name="catalog_relation_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.source.ref} {self.type} {self.target_ref}"

    @property
    def is_resolved(self) -> bool:
        return self.target_id is not None
