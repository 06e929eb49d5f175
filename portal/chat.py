"""Adapter: post a message to a Slack-compatible incoming webhook."""

from __future__ import annotations

import requests

TIMEOUT = (3, 10)


class TransientDeliveryError(Exception):
    """Worth retrying: the receiver was unreachable, overloaded or failing."""


class PermanentDeliveryError(Exception):
    """Retrying will not help: the receiver refused the message."""


def post_message(url: str, payload: dict) -> None:
    try:
        response = requests.post(url, json=payload, timeout=TIMEOUT, allow_redirects=False)
    except requests.RequestException as exc:
        raise TransientDeliveryError(f"unreachable: {exc.__class__.__name__}") from exc
    if response.status_code == 429 or response.status_code >= 500:
        raise TransientDeliveryError(f"answered {response.status_code}")
    if response.status_code >= 300:
        raise PermanentDeliveryError(f"answered {response.status_code}")
