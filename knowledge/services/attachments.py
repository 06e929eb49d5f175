"""Files attached to pages: allowed types by name and content, within the size limit."""

from __future__ import annotations

import logging
import re
from pathlib import Path

from django.conf import settings
from django.db import transaction

from knowledge import permissions
from knowledge.models import (
    Attachment,
    Page,
)
from portal.services import PermissionDenied, ServiceError, audit_record

logger = logging.getLogger(__name__)


# Extension -> (content type, what the content must start with, or None for text types): bytes
# or, where a fixed prefix says too little, a pattern.
ATTACHMENT_TYPES = {
    ".png": ("image/png", [b"\x89PNG\r\n\x1a\n"]),
    ".jpg": ("image/jpeg", [b"\xff\xd8\xff"]),
    ".jpeg": ("image/jpeg", [b"\xff\xd8\xff"]),
    ".gif": ("image/gif", [b"GIF87a", b"GIF89a"]),
    ".webp": ("image/webp", [re.compile(rb"RIFF....WEBP", re.DOTALL)]),  # RIFF alone is also WAV, AVI
    ".pdf": ("application/pdf", [b"%PDF-"]),
    ".zip": ("application/zip", [b"PK\x03\x04", b"PK\x05\x06"]),
    ".txt": ("text/plain", None),
    ".log": ("text/plain", None),
    ".md": ("text/plain", None),
    ".csv": ("text/csv", None),
    ".json": ("application/json", None),
    ".yaml": ("text/plain", None),
    ".yml": ("text/plain", None),
}


def max_attachment_bytes() -> int:
    return int(getattr(settings, "KNOWLEDGE_MAX_ATTACHMENT_BYTES", 10 * 1024 * 1024))


def attachment_name(filename: str) -> str:
    """The name a file is attached under: its base name, in characters safe in a URL path."""
    return re.sub(r"[^\w.\- ]", "_", Path(filename).name.strip())[:200]


def attachment_add(*, actor, page: Page, upload) -> Attachment:
    """Attach a file: allowed types only (by name and by content), within the size limit."""
    if not permissions.can_edit_space(actor, page.space):
        raise PermissionDenied("You cannot add files to this page: its space belongs to another team.")
    name = attachment_name(getattr(upload, "name", "") or "")
    ext = Path(name).suffix.lower()
    if not name or ext not in ATTACHMENT_TYPES:
        allowed = ", ".join(sorted(ATTACHMENT_TYPES))
        raise ServiceError(f"Files of this type cannot be attached. Allowed: {allowed}.")
    size = upload.size
    if size > max_attachment_bytes():
        raise ServiceError(
            f"The file is {size // 1024} KB; attachments are limited to {max_attachment_bytes() // 1024} KB."
        )
    content_type, magic = ATTACHMENT_TYPES[ext]
    upload.seek(0)
    head = upload.read(2048)
    upload.seek(0)
    if magic is not None and not any(
        head.startswith(m) if isinstance(m, bytes) else m.match(head) is not None for m in magic
    ):
        raise ServiceError(f"The file's content does not look like a {ext} file.")
    if magic is None:
        try:
            head.decode("utf-8")
        except UnicodeDecodeError as exc:
            if exc.start < len(head) - 4:  # a multi-byte character cut at the end is fine
                raise ServiceError("Text attachments must be UTF-8 text.")
    with transaction.atomic():
        if Attachment.objects.filter(page=page, name=name).exists():
            raise ServiceError(f"This page already has a file called “{name}”. Delete it first or rename yours.")
        attachment = Attachment(page=page, name=name, content_type=content_type, size=size, uploaded_by=actor)
        attachment.file.save(name, upload, save=False)
        attachment.save()
        audit_record(actor=actor, action="knowledge.attachment.add", obj=page, changes={"name": name, "size": size})
    return attachment


def attachment_delete(*, actor, attachment: Attachment) -> None:
    if not permissions.can_edit_space(actor, attachment.page.space):
        raise PermissionDenied("You cannot remove files from this page.")
    with transaction.atomic():
        audit_record(actor=actor, action="knowledge.attachment.delete", obj=attachment.page,
                     changes={"name": attachment.name})  # fmt: skip
        storage, path = attachment.file.storage, attachment.file.name
        attachment.delete()
        transaction.on_commit(lambda: storage.delete(path))
