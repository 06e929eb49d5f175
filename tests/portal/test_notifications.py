import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
from django.core import mail
from django.urls import reverse

from portal import services
from portal.models import Delivery, Notification, TeamChatWebhook
from portal.tasks import deliver

pytestmark = pytest.mark.django_db


class ChatReceiver:
    """A local HTTP server standing in for a team's chat webhook."""

    def __init__(self, statuses):
        self.statuses = list(statuses)
        self.received = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.received.append(json.loads(body))
                status = receiver.statuses.pop(0) if receiver.statuses else 200
                self.send_response(status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

        self.server = HTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def chat_receiver(settings):
    # The stand-in listens on 127.0.0.1 over http: allowed only because the settings say so.
    settings.CHAT_WEBHOOK_ALLOW_HTTP = True
    settings.CHAT_WEBHOOK_ALLOW_PRIVATE = True
    receivers = []

    def start(*statuses):
        receiver = ChatReceiver(statuses)
        receivers.append(receiver)
        return receiver

    yield start
    for receiver in receivers:
        receiver.close()


def test_a_notification_shows_in_the_centre_with_an_unread_count(login, developer):
    services.notify(users=[developer], event="environment_ready", title="preview-42 is ready", url="/environments/")
    client = login(developer)
    home = client.get(reverse("home")).content.decode()
    assert 'id="unread-count">1<' in home
    page = client.get(reverse("notifications")).content.decode()
    assert "preview-42 is ready" in page

    notification = Notification.objects.get(user=developer)
    response = client.post(reverse("notification-open", args=[notification.pk]))
    assert response.url == "/environments/"
    assert 'id="unread-count"' not in client.get(reverse("home")).content.decode()


def test_mark_all_as_read_through_the_api(client, developer):
    services.notify(users=[developer], event="approval_needed", title="one")
    services.notify(users=[developer], event="approval_needed", title="two")
    client.force_login(developer)
    assert client.get("/api/notifications/?unread=true").json()["count"] == 2
    assert client.post("/api/notifications/read-all/").json() == {"marked": 2}
    assert client.get("/api/notifications/?unread=true").json()["count"] == 0


def test_someone_elses_notification_cannot_be_read_or_marked(client, developer, stranger):
    (notification,) = services.notify(users=[developer], event="approval_needed", title="private")
    client.force_login(stranger)
    assert client.get(f"/api/notifications/{notification.pk}/").status_code == 404
    assert client.post(f"/api/notifications/{notification.pk}/read/").status_code == 404
    client.post(reverse("notification-open", args=[notification.pk]))
    notification.refresh_from_db()
    assert notification.read_at is None


def test_email_goes_out_unless_the_user_turned_it_off(developer, django_capture_on_commit_callbacks, settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    with django_capture_on_commit_callbacks(execute=False):
        services.notify(users=[developer], event="approval_decided", title="Approved: preview-42", body="Go!")
    delivery = Delivery.objects.get(channel="email")
    assert deliver.apply(args=[delivery.pk]).get() == "sent"
    assert mail.outbox[0].subject == "Approved: preview-42"
    assert mail.outbox[0].to == ["dev@example.com"]

    services.notification_preferences_set(user=developer, choices={("approval_decided", "email"): False})
    services.notify(users=[developer], event="approval_decided", title="Rejected: preview-43")
    assert Delivery.objects.filter(channel="email").count() == 1
    assert Notification.objects.filter(user=developer, title="Rejected: preview-43").exists()


def test_preferences_are_saved_from_the_form(login, developer):
    client = login(developer)
    form = client.get(reverse("notification-preferences"))
    assert "A default-branch pipeline of my team failed" in form.content.decode()
    data = {f"{event}__{channel}": "on" for event, _ in form.context["form"].events for channel in ("in_app", "email")}
    del data["pipeline_failed__email"]
    client.post(reverse("notification-preferences"), data)
    services.notify(users=[developer], event="pipeline_failed", title="main failed")
    assert not Delivery.objects.filter(channel="email").exists()


def test_a_team_chat_webhook_is_retried_with_backoff_until_it_answers(chat_receiver, developer):
    receiver = chat_receiver(500, 503, 200)
    TeamChatWebhook.objects.create(team_ref="group:default/team-payments", url=receiver.url)
    services.notify(
        users=[developer],
        event="incident_started",
        title="Incident on checkout-api",
        team_refs=["group:default/team-payments"],
    )
    delivery = Delivery.objects.get(channel="chat")

    deliver.apply(args=[delivery.pk])

    delivery.refresh_from_db()
    assert delivery.status == "sent"
    assert delivery.attempts == 3
    assert len(receiver.received) == 3
    assert receiver.received[-1]["text"].startswith("*Incident on checkout-api*")


def test_a_refused_chat_message_is_not_retried(chat_receiver, developer):
    receiver = chat_receiver(404)
    webhook = TeamChatWebhook.objects.create(team_ref="group:default/team-payments", url=receiver.url)
    delivery = Delivery.objects.create(channel="chat", webhook=webhook, payload={"text": "hi"})
    assert deliver.apply(args=[delivery.pk]).get() == "failed"
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.last_error) == ("failed", 1, "answered 404")


def test_an_unreachable_broker_does_not_break_the_action_and_the_sweep_resends(
    developer, monkeypatch, django_capture_on_commit_callbacks
):
    from datetime import timedelta

    from django.utils import timezone
    from kombu.exceptions import OperationalError

    def broker_down(*args, **kwargs):
        raise OperationalError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

    TeamChatWebhook.objects.create(team_ref="group:default/t", url="https://127.0.0.1:1/hook")
    monkeypatch.setattr(deliver, "delay", broker_down)
    with django_capture_on_commit_callbacks(execute=True):
        notifications = services.notify(
            users=[developer], event="incident_started", title="x", team_refs=["group:default/t"]
        )
    assert notifications
    delivery = Delivery.objects.get(channel="chat")
    assert delivery.status == "pending"

    sent = []
    monkeypatch.setattr(deliver, "delay", lambda pk: sent.append(pk))
    assert services.deliveries_resend_stale() == 0  # too fresh: a worker may still take it
    Delivery.objects.filter(pk=delivery.pk).update(created_at=timezone.now() - timedelta(minutes=5))
    assert services.deliveries_resend_stale() == 1
    assert sent == [delivery.pk]


def test_chat_text_is_escaped_and_links_are_absolute(chat_receiver, developer, settings):
    """The review's message: ``<!channel>`` and a disguised link passed on as Slack markup, and a
    relative link that does not work from chat."""
    settings.PORTAL_BASE_URL = "https://bridge.example.com/"
    receiver = chat_receiver(200)
    TeamChatWebhook.objects.create(team_ref="group:default/team-payments", url=receiver.url)
    services.notify(
        users=[developer],
        event="incident_started",
        title="Incident on checkout-api (sev1) & more",
        body="<!channel> <https://evil.example/sso|Sign in to acknowledge>",
        url="/incidents/8/",
        team_refs=["group:default/team-payments"],
    )
    deliver.apply(args=[Delivery.objects.get(channel="chat").pk])
    text = receiver.received[0]["text"]
    assert "<!channel>" not in text and "<https://evil.example" not in text
    assert "&lt;!channel&gt; &lt;https://evil.example/sso|Sign in to acknowledge&gt;" in text
    assert "*Incident on checkout-api (sev1) &amp; more*" in text
    assert "https://bridge.example.com/incidents/8/" in text
    # In the portal itself the link stays a path.
    assert Notification.objects.get(user=developer).url == "/incidents/8/"


@pytest.mark.parametrize(
    "url, reason",
    [
        ("http://chat.example.com/hooks/1", "must use https"),
        ("https://127.0.0.1/hooks/1", "loopback, private or link-local"),
        ("https://169.254.169.254/latest/meta-data", "loopback, private or link-local"),
        ("https://10.1.2.3/hooks/1", "loopback, private or link-local"),
    ],
)
def test_chat_webhooks_go_to_public_https_hosts_only(developer, settings, url, reason):
    from django.core.exceptions import ValidationError

    settings.CHAT_WEBHOOK_ALLOW_HTTP = settings.CHAT_WEBHOOK_ALLOW_PRIVATE = False
    webhook = TeamChatWebhook(team_ref="group:default/team-payments", url=url)
    with pytest.raises(ValidationError, match=reason):
        webhook.full_clean()
    webhook.save()  # one stored before the rule: its deliveries fail at once, and nothing is sent
    delivery = Delivery.objects.create(channel="chat", webhook=webhook, payload={"text": "hi"})
    assert deliver.apply(args=[delivery.pk]).get() == "failed"
    delivery.refresh_from_db()
    assert reason in delivery.last_error
