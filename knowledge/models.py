"""Knowledge base: spaces, pages (articles, runbooks, postmortems) and revisions.

Incidents live in the ``incidents`` app, which imports this one; this app imports nothing of it."""

import uuid

from django.conf import settings
from django.contrib.postgres.search import SearchVectorField
from django.db import models
from django.urls import reverse

from catalog.models import Entity


class Space(models.Model):
    """A collection of pages owned by a team: the permission boundary (as in Outline)."""

    key = models.SlugField(max_length=60, unique=True, help_text="Short name used in URLs.")
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    owner = models.ForeignKey(
        Entity,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="knowledge_spaces",
        limit_choices_to={"kind": "Group"},
        help_text="The catalog Group (team) whose members edit this space.",
    )
    open_for_edit = models.BooleanField(default=False, help_text="Anyone signed in may edit the pages.")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse("knowledge:space", args=[self.key])


class PageKind(models.TextChoices):
    ARTICLE = "article", "Article"
    RUNBOOK = "runbook", "Runbook"
    POSTMORTEM = "postmortem", "Postmortem"


class Tag(models.Model):
    """A label as people write it (“数据库”, “C++”), with a slug derived from it for URLs."""

    name = models.CharField(max_length=60, unique=True)
    slug = models.SlugField(max_length=80, allow_unicode=True, blank=True, db_index=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class PageManager(models.Manager):
    def get_queryset(self):
        # The search vector is about three times the size of the text and only the database reads it.
        return super().get_queryset().defer("search_vector")


class Page(models.Model):
    """A Markdown page; its text is the text of its newest revision."""

    space = models.ForeignKey(Space, on_delete=models.CASCADE, related_name="pages")
    parent = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="children")
    position = models.PositiveIntegerField(default=0, help_text="Order among siblings (mkdocs nav order).")
    title = models.CharField(max_length=200)
    slug = models.SlugField(max_length=200)
    kind = models.CharField(max_length=20, choices=PageKind.choices, default=PageKind.ARTICLE, db_index=True)
    body = models.TextField(blank=True)
    source_path = models.CharField(max_length=500, blank=True, help_text="Path in the mkdocs project it came from.")
    tags = models.ManyToManyField(Tag, blank=True, related_name="pages")
    entities = models.ManyToManyField(Entity, blank=True, related_name="knowledge_pages")
    current_revision = models.ForeignKey("Revision", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    # Postmortems point at what went wrong. Incidents and deployments live in apps that import this
    # one, so both are references by value; the incidents app checks them (portal.extensions).
    incident_id = models.BigIntegerField(
        null=True, blank=True, db_index=True, help_text="Postmortems: the number of the incident it is about."
    )
    deployment_ref = models.CharField(max_length=200, blank=True, help_text="The deployment that caused it, if any.")
    search_vector = SearchVectorField(null=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    objects = PageManager()

    class Meta:
        ordering = ["position", "title"]
        constraints = [models.UniqueConstraint(fields=["space", "slug"], name="knowledge_page_unique_slug")]
        indexes = [models.Index(fields=["space", "parent", "position"]), models.Index(fields=["-updated_at"])]

    def __str__(self) -> str:
        return self.title

    def get_absolute_url(self) -> str:
        return reverse("knowledge:page", args=[self.space.key, self.slug])

    def url_for(self, name: str) -> str:
        return reverse(f"knowledge:{name}", args=[self.space.key, self.slug])


class Revision(models.Model):
    """One saved version of a page. Never changed after it is written."""

    page = models.ForeignKey(Page, on_delete=models.CASCADE, related_name="revisions")
    number = models.PositiveIntegerField()
    title = models.CharField(max_length=200)
    body = models.TextField(blank=True)
    message = models.CharField(max_length=300, blank=True)
    author = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-number"]
        constraints = [models.UniqueConstraint(fields=["page", "number"], name="knowledge_revision_unique_number")]

    def __str__(self) -> str:
        return f"{self.page_id} r{self.number}"


class RevisionRender(models.Model):
    """A revision rendered to sanitized HTML (links between pages still placeholders).

    Stored beside the revision rather than in a per-process cache, so every web and worker
    process, and every restart, reuses it: a reader never waits for Markdown.
    """

    revision = models.OneToOneField(Revision, on_delete=models.CASCADE, primary_key=True, related_name="render")
    renderer_version = models.CharField(max_length=20)
    html = models.TextField()
    toc = models.TextField(blank=True)
    rendered_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"render of {self.revision_id} (v{self.renderer_version})"


class SiteBuild(models.Model):
    """An ``mkdocs build --strict`` of a space, run by a worker."""

    class Status(models.TextChoices):
        QUEUED = "queued"
        RUNNING = "running"
        SUCCEEDED = "succeeded"
        FAILED = "failed"

    space = models.ForeignKey(Space, on_delete=models.CASCADE, related_name="builds")
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.QUEUED)
    log = models.TextField(blank=True)
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"Build #{self.pk} of {self.space}"


class ServiceDocsBuild(models.Model):
    """A TechDocs-style build of a catalog entity's own mkdocs docs (``backstage.io/techdocs-ref``)."""

    class Status(models.TextChoices):
        QUEUED = "queued"
        RUNNING = "running"
        SUCCEEDED = "succeeded"
        FAILED = "failed"

    entity = models.ForeignKey(Entity, on_delete=models.CASCADE, related_name="docs_builds")
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.QUEUED)
    source = models.CharField(max_length=1000, blank=True)
    log = models.TextField(blank=True)
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"Docs build #{self.pk} of {self.entity_id}"


def _attachment_path(instance, filename: str) -> str:
    return f"knowledge/attachments/{instance.page_id}/{uuid.uuid4().hex}"


class Attachment(models.Model):
    """An image or file on a page. Stored under a random name; the original name is kept here."""

    page = models.ForeignKey(Page, on_delete=models.CASCADE, related_name="attachments")
    file = models.FileField(upload_to=_attachment_path, max_length=300)
    name = models.CharField(max_length=200)
    content_type = models.CharField(max_length=100)
    size = models.PositiveIntegerField()
    uploaded_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["page", "name"], name="knowledge_attachment_unique_name")]

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse("knowledge:attachment", args=[self.page.space.key, self.page.slug, self.name])

    @property
    def is_image(self) -> bool:
        return self.content_type.startswith("image/")
