import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from knowledge import services
from knowledge.models import Attachment
from portal.services import PermissionDenied, ServiceError

pytestmark = pytest.mark.django_db

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


def test_an_image_is_attached_and_served_inline_with_nosniff(login, developer, page):
    client = login(developer)
    response = client.post(
        reverse("knowledge:attachment-upload", args=[page.space.key, page.slug]),
        {"file": SimpleUploadedFile("diagram.png", PNG, content_type="image/png")},
    )
    assert response.status_code == 302
    attachment = Attachment.objects.get(page=page)
    served = client.get(attachment.get_absolute_url())
    assert served["Content-Type"] == "image/png" and served["X-Content-Type-Options"] == "nosniff"
    assert served["Content-Disposition"].startswith("inline")
    assert b"".join(served.streaming_content) == PNG
    assert b"diagram.png" in client.get(page.get_absolute_url()).content


def test_other_files_are_served_as_downloads(developer, page, login):
    attachment = services.attachment_add(
        actor=developer, page=page, upload=SimpleUploadedFile("notes.txt", b"<script>alert(1)</script>")
    )
    served = login(developer).get(attachment.get_absolute_url())
    assert served["Content-Disposition"].startswith("attachment") and served["Content-Type"] == "text/plain"


@pytest.mark.parametrize(
    ("name", "data", "message"),
    [
        ("evil.svg", b"<svg onload=alert(1)>", "cannot be attached"),
        ("page.html", b"<script>", "cannot be attached"),
        ("fake.png", b"<html><script>alert(1)</script>", "does not look like a .png"),
        ("binary.txt", b"\xff\xfe\x00\x00\xff" * 100, "UTF-8"),
        ("sound.webp", b"RIFF\x24\x08\x00\x00WAVEfmt " + b"\x00" * 64, "does not look like a .webp"),
    ],
)
def test_disallowed_or_disguised_files_are_refused(developer, page, name, data, message):
    with pytest.raises(ServiceError, match=message):
        services.attachment_add(actor=developer, page=page, upload=SimpleUploadedFile(name, data))
    assert not Attachment.objects.exists()


def test_a_file_over_the_size_limit_is_refused(developer, page, settings):
    settings.KNOWLEDGE_MAX_ATTACHMENT_BYTES = 10
    with pytest.raises(ServiceError, match="limited to"):
        services.attachment_add(actor=developer, page=page, upload=SimpleUploadedFile("a.png", PNG))


def test_a_stranger_cannot_attach_or_remove_files(developer, stranger, page, login):
    with pytest.raises(PermissionDenied):
        services.attachment_add(actor=stranger, page=page, upload=SimpleUploadedFile("a.png", PNG))
    attachment = services.attachment_add(actor=developer, page=page, upload=SimpleUploadedFile("a.png", PNG))
    url = reverse("knowledge:attachment-delete", args=[page.space.key, page.slug, attachment.name])
    assert login(stranger).post(url).status_code == 403
    assert Attachment.objects.filter(pk=attachment.pk).exists()


def test_a_refused_upload_is_a_message_not_an_error_page(login, developer, page):
    response = login(developer).post(
        reverse("knowledge:attachment-upload", args=[page.space.key, page.slug]),
        {"file": SimpleUploadedFile("x.exe", b"MZ")},
        follow=True,
    )
    assert response.status_code == 200 and b"cannot be attached" in response.content


def test_a_webp_image_is_accepted(developer, page):
    webp = b"RIFF\x1a\x00\x00\x00WEBPVP8L" + b"\x00" * 32
    attachment = services.attachment_add(actor=developer, page=page, upload=SimpleUploadedFile("shot.webp", webp))
    assert attachment.content_type == "image/webp"


@pytest.mark.parametrize(
    ("name", "data", "disposition"),
    [("图.png", PNG, "inline; filename*=utf-8''%E5%9B%BE.png"),
     ("日志.txt", b"hello", "attachment; filename*=utf-8''%E6%97%A5%E5%BF%97.txt"),
     ("plain name.png", PNG, 'inline; filename="plain name.png"')],
)  # fmt: skip
def test_file_names_reach_the_browser_intact(login, developer, page, name, data, disposition):
    attachment = services.attachment_add(actor=developer, page=page, upload=SimpleUploadedFile(name, data))
    assert attachment.name == name
    served = login(developer).get(attachment.get_absolute_url())
    assert served["Content-Disposition"] == disposition
