"""Adapter: post a message to a Slack-compatible incoming webhook (Slack, Mattermost)."""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit

import requests
from django.conf import settings

TIMEOUT = (3, 10)


class TransientDeliveryError(Exception):
    """Worth retrying: the receiver was unreachable, overloaded or failing."""


class PermanentDeliveryError(Exception):
    """Retrying will not help: the receiver refused the message."""


def escape(text: str) -> str:
    """Escape text for Slack's and Mattermost's message format: ``&``, ``<`` and ``>`` become
    entities, so ``<!channel>`` pings nobody and ``<https://evil|Sign in>`` shows as typed."""
    return (text or "").replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def absolute_url(url: str) -> str:
    """A link that works from chat or email: paths get ``PORTAL_BASE_URL`` in front."""
    if not url:
        return ""
    if url.startswith("/") and not url.startswith("//"):
        return settings.PORTAL_BASE_URL.rstrip("/") + url
    return url


def message_text(*, title: str, body: str = "", url: str = "") -> str:
    """The chat message for a notification: bold title, body, then an absolute link of our own."""
    text = f"*{escape(title)}*"
    if body:
        text += f"\n{escape(body)}"
    if url:
        # A bare absolute link: both Slack and Mattermost make it clickable.
        text += f"\n{escape(absolute_url(url))}"
    return text


def webhook_url_refusal(url: str) -> str | None:
    """Why Bridge will not post to this webhook URL, or None. ``https`` only (``http`` when
    ``CHAT_WEBHOOK_ALLOW_HTTP``), and no loopback, private or link-local address unless
    ``CHAT_WEBHOOK_ALLOW_PRIVATE``: a chat webhook must not become a way into the internal network."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return "The webhook URL is not a valid URL."
    allowed = {"https", "http"} if getattr(settings, "CHAT_WEBHOOK_ALLOW_HTTP", False) else {"https"}
    if parts.scheme not in allowed:
        return "Chat webhook URLs must use https (set CHAT_WEBHOOK_ALLOW_HTTP=true to allow http)."
    if not parts.hostname:
        return "The webhook URL has no host."
    if getattr(settings, "CHAT_WEBHOOK_ALLOW_PRIVATE", False):
        return None
    try:
        infos = socket.getaddrinfo(parts.hostname, port or (443 if parts.scheme == "https" else 80))
    except (OSError, UnicodeError):
        return None  # unresolvable now: the delivery fails as unreachable and is retried
    for info in infos:
        address = ipaddress.ip_address(info[4][0].split("%")[0])
        if (
            address.is_loopback
            or address.is_private
            or address.is_link_local
            or address.is_reserved
            or address.is_multicast
            or address.is_unspecified
        ):
            return (
                f"The webhook host {parts.hostname} is a loopback, private or link-local address "
                "(set CHAT_WEBHOOK_ALLOW_PRIVATE=true if your chat server lives there)."
            )
    return None


def post_message(url: str, payload: dict) -> None:
    refusal = webhook_url_refusal(url)
    if refusal is not None:
        raise PermanentDeliveryError(refusal)
    try:
        response = requests.post(url, json=payload, timeout=TIMEOUT, allow_redirects=False)
    except requests.RequestException as exc:
        raise TransientDeliveryError(f"unreachable: {exc.__class__.__name__}") from exc
    if response.status_code == 429 or response.status_code >= 500:
        raise TransientDeliveryError(f"answered {response.status_code}")
    if response.status_code >= 300:
        raise PermanentDeliveryError(f"answered {response.status_code}")
