"""The one HTTP client Bridge uses to read Git hosts (GitHub, GitLab, plain Git over HTTP(S)).

Every app that reads a Git host goes through :func:`client` (catalog locations, pipeline
backfill, the scaffolder). What it guarantees, for every request and every redirect hop:

* only ``http``/``https`` URLs without credentials, on a host that has an integration
  (:mod:`portal.githosts.integrations`); anything else raises :class:`~.errors.NotConfigured`
  or :class:`~.errors.Refused` before a byte is sent;
* the address is checked when the socket connects (so DNS cannot change it between check and
  use): loopback, private and link-local addresses are refused unless the integration names
  them (``allow_private_addresses``); :class:`~.errors.AddressRefused`;
* redirects are followed only within the same integration's hosts (at most 3);
  :class:`~.errors.RedirectRefused` otherwise;
* the integration's token goes only to its own hosts, and over plain HTTP only where the
  integration allows private addresses (a host on your own network);
* a size cap (``GIT_HTTP_MAX_BYTES``; :class:`~.errors.TooLarge`) and timeouts (connect, read
  and a total deadline; :class:`~.errors.Unavailable`);
* rate limits: ``Retry-After``, ``X-RateLimit-Remaining: 0`` / ``RateLimit-Remaining: 0`` with
  their reset time, and GitHub's secondary limits (403/429 naming a secondary rate limit; at least
  a minute when no header says how long). Bridge waits up to ``GIT_HTTP_MAX_RATE_WAIT`` seconds
  and tries again; a longer wait raises :class:`~.errors.RateLimited` with ``retry_at``, and every
  request to that host waits or refuses until then (the block is shared by the threads of a process);
* conditional requests: pass ``etag`` and a 304 comes back as ``not_modified=True``.

Usage::

    from portal.githosts import client

    response = client().get(url, etag=stored_etag, accept="application/vnd.github.raw")
    if response.not_modified: ...
    text = response.text
"""

from __future__ import annotations

import email.utils
import ipaddress
import json
import logging
import socket
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from urllib.parse import urljoin, urlsplit

import requests
import urllib3
from django.conf import settings
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

from portal.githosts import errors
from portal.githosts.integrations import Integration, integration_for_url, netloc_of

logger = logging.getLogger(__name__)

REDIRECTS = (301, 302, 303, 307, 308)
MAX_REDIRECTS = 3
USER_AGENT = "Bridge-developer-portal"


def _setting(name: str, default):
    return getattr(settings, name, default)


# --- connecting only to allowed addresses ------------------------------------------------


def guarded_connect(host: str, port: int, integration: Integration, timeout, source_address=None, options=None):
    """Resolve ``host`` and connect to the first address the integration allows; refuse if none is."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise errors.Unavailable(f"Cannot resolve {host}: {exc.strerror or exc}") from None
    refused: list[str] = []
    last_error: OSError | None = None
    for family, kind, proto, _name, sockaddr in infos:
        address = ipaddress.ip_address(sockaddr[0].split("%")[0])
        if not integration.allows_address(address):
            refused.append(str(address))
            continue
        sock = socket.socket(family, kind, proto)
        try:
            for option in options or ():
                sock.setsockopt(*option)
            if timeout is not None and timeout is not socket._GLOBAL_DEFAULT_TIMEOUT:
                sock.settimeout(timeout)
            if source_address:
                sock.bind(source_address)
            sock.connect(sockaddr)
            return sock
        except OSError as exc:
            last_error = exc
            sock.close()
    if refused and last_error is None:
        raise errors.AddressRefused(
            f"Refused to connect to {host}: its address {', '.join(sorted(set(refused)))} is loopback, private or "
            "link-local, and the integration does not allow it (allow_private_addresses)."
        )
    raise errors.Unavailable(f"Cannot connect to {host}:{port}: {last_error}")


def _guarded(base):
    class Guarded(base):
        bridge_integration: Integration

        def _new_conn(self):
            try:
                return guarded_connect(
                    self._dns_host,
                    self.port,
                    self.bridge_integration,
                    self.timeout,
                    self.source_address,
                    self.socket_options,
                )
            except errors.Unavailable as exc:
                raise urllib3.exceptions.NewConnectionError(self, str(exc)) from None

    return Guarded


class _Adapter(HTTPAdapter):
    """A requests adapter whose connections check addresses against one integration."""

    def __init__(self, integration: Integration):
        self.integration = integration
        super().__init__(pool_connections=4, pool_maxsize=8, max_retries=0)

    def init_poolmanager(self, connections, maxsize, block=False, **pool_kwargs):
        super().init_poolmanager(connections, maxsize, block=block, **pool_kwargs)
        integration = self.integration
        http_conn = type("BridgeHTTPConnection", (_guarded(HTTPConnection),), {"bridge_integration": integration})
        https_conn = type("BridgeHTTPSConnection", (_guarded(HTTPSConnection),), {"bridge_integration": integration})
        http_pool = type("BridgeHTTPPool", (HTTPConnectionPool,), {"ConnectionCls": http_conn})
        https_pool = type("BridgeHTTPSPool", (HTTPSConnectionPool,), {"ConnectionCls": https_conn})
        self.poolmanager.pool_classes_by_scheme = {"http": http_pool, "https": https_pool}
        self.poolmanager.key_fn_by_scheme = dict(self.poolmanager.key_fn_by_scheme)


# --- rate limits shared by the threads of this process ------------------------------------

_blocks: dict[str, float] = {}  # netloc -> time.time() until which the host asked us to wait
_blocks_lock = threading.Lock()


def _blocked_until(netloc: str) -> float:
    with _blocks_lock:
        return _blocks.get(netloc, 0.0)


def _block(netloc: str, until: float) -> None:
    with _blocks_lock:
        _blocks[netloc] = max(_blocks.get(netloc, 0.0), until)


def forget_rate_limits() -> None:
    with _blocks_lock:
        _blocks.clear()


def _parse_retry_after(value: str, now: float) -> float | None:
    value = (value or "").strip()
    if not value:
        return None
    if value.isdigit():
        return now + int(value)
    try:
        return email.utils.parsedate_to_datetime(value).timestamp()
    except (TypeError, ValueError):
        return None


def rate_limit_wait(status: int, headers, body: bytes, now: float) -> float | None:
    """Until when (epoch seconds) the host asks us to wait, or None if this is no rate-limit answer.

    The order follows GitHub's documentation: Retry-After first; then a spent primary limit
    (remaining 0, wait until reset); then a secondary limit without headers (at least a minute).
    GitLab sends Retry-After and RateLimit-* headers on its 429s.
    """
    remaining = headers.get("X-RateLimit-Remaining") or headers.get("RateLimit-Remaining")
    reset = headers.get("X-RateLimit-Reset") or headers.get("RateLimit-Reset")
    if status not in (403, 429):
        if remaining == "0" and reset and reset.isdigit():
            return float(reset)  # the last request of the window: the next ones must wait
        return None
    retry_after = _parse_retry_after(headers.get("Retry-After", ""), now)
    if retry_after is not None:
        return retry_after
    if remaining == "0" and reset and reset.isdigit():
        return max(float(reset), now + 1)
    text = body[:2000].decode("utf-8", "replace").lower()
    if status == 429 or "rate limit" in text:
        return now + 60
    return None


# --- responses -----------------------------------------------------------------------------


@dataclass
class HostResponse:
    """What a Git host answered (the body is read completely, under the size cap)."""

    url: str
    status: int
    headers: requests.structures.CaseInsensitiveDict
    body: bytes = b""
    integration: Integration | None = field(default=None, repr=False)

    @property
    def not_modified(self) -> bool:
        return self.status == 304

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    @property
    def etag(self) -> str:
        return self.headers.get("ETag", "")

    @property
    def text(self) -> str:
        return self.body.decode("utf-8")

    def json(self):
        import json

        return json.loads(self.body or b"null")

    @property
    def links(self) -> dict[str, str]:
        """The Link header (pagination) as {rel: url}."""
        found = {}
        for part in self.headers.get("Link", "").split(","):
            if ";" not in part:
                continue
            target, *params = part.split(";")
            target = target.strip().strip("<>")
            for param in params:
                name, _, value = param.strip().partition("=")
                if name == "rel":
                    for rel in value.strip('"').split():
                        found[rel] = target
        return found


# --- the client -------------------------------------------------------------------------------


class GitHostClient:
    """See the module docstring. Several threads may share one client: each gets its own session (keep-alive
    connections are not shared between threads), and rate limits are shared by all."""

    def __init__(
        self,
        *,
        max_bytes: int | None = None,
        connect_timeout: float | None = None,
        read_timeout: float | None = None,
        deadline: float | None = None,
        max_rate_wait: float | None = None,
        sleep=time.sleep,
    ):
        self.max_bytes = max_bytes or int(_setting("GIT_HTTP_MAX_BYTES", 10 * 1024 * 1024))
        self.connect_timeout = connect_timeout or float(_setting("GIT_HTTP_CONNECT_TIMEOUT", 5))
        self.read_timeout = read_timeout or float(_setting("GIT_HTTP_READ_TIMEOUT", 20))
        self.deadline = deadline or float(_setting("GIT_HTTP_DEADLINE", 60))
        self.max_rate_wait = float(_setting("GIT_HTTP_MAX_RATE_WAIT", 10) if max_rate_wait is None else max_rate_wait)
        self.sleep = sleep
        self._local = threading.local()  # this thread's sessions: {integration: requests.Session}

    # -- checks --

    def check_url(self, url: str, integration: Integration | None = None) -> Integration:
        """The integration that allows fetching ``url``; raises Refused/NotConfigured otherwise.

        Callers that already hold the integration pass it (no configuration lookup then); the URL
        must still be one of its hosts.
        """
        parts = urlsplit(url)
        if parts.scheme and parts.scheme.lower() not in ("http", "https"):
            raise errors.Refused(f"Only http and https URLs are read, not {parts.scheme}: URLs.")
        if not parts.scheme or not parts.netloc:
            raise errors.Refused("That is not a URL Bridge can read: give the whole https://… address.")
        if not parts.hostname:
            raise errors.Refused("The URL has no host.")
        if parts.username or parts.password:
            raise errors.Refused("Put credentials in the integration, not in the URL.")
        if integration is not None and netloc_of(url) in integration.netlocs:
            return integration
        integration = integration_for_url(url)
        if integration is None:
            raise errors.NotConfigured(
                f"{netloc_of(url)} has no Git integration; a Platform Admin adds one (GIT_INTEGRATIONS or the admin)."
            )
        return integration

    def _session(self, integration: Integration) -> requests.Session:
        sessions = getattr(self._local, "sessions", None)
        if sessions is None:
            sessions = self._local.sessions = {}
        session = sessions.get(integration)
        if session is None:
            session = requests.Session()
            session.trust_env = False  # no proxies, .netrc or CA bundles from the environment
            adapter = _Adapter(integration)
            session.mount("http://", adapter)
            session.mount("https://", adapter)
            sessions[integration] = session
        return session

    def auth_headers(self, integration: Integration, url: str) -> dict[str, str]:
        """The token's header for this integration, if it may go to ``url``."""
        if not integration.token:
            return {}
        scheme = urlsplit(url).scheme.lower()
        if scheme != "https" and not (integration.allow_private or integration.allowed_networks):
            return {}  # never send a token in clear text over the internet
        if integration.type == "github":
            return {"Authorization": f"Bearer {integration.token}"}
        if integration.type == "gitlab":
            return {"PRIVATE-TOKEN": integration.token}
        import base64

        basic = base64.b64encode(f"git:{integration.token}".encode()).decode()
        return {"Authorization": f"Basic {basic}"}

    def _wait_for(self, netloc: str, now: float) -> None:
        until = _blocked_until(netloc)
        if until <= now:
            return
        if until - now > self.max_rate_wait:
            raise errors.RateLimited(
                f"{netloc} asked Bridge to wait until {_when(until)} (rate limit).",
                retry_at=datetime.fromtimestamp(until, tz=UTC),
            )
        self.sleep(until - now)

    # -- requests --

    def request(
        self,
        method: str,
        url: str,
        *,
        etag: str = "",
        accept: str = "",
        headers: dict | None = None,
        max_bytes: int | None = None,
        allow_statuses: tuple[int, ...] = (),
        integration: Integration | None = None,
        json_body: dict | None = None,
    ) -> HostResponse:
        """Send one request (following allowed redirects, waiting out short rate limits).

        ``json_body`` is sent as JSON (repository creation by the scaffolder); a request with a body
        follows no redirect, since the host would not get the body again.

        2xx and 304 come back; so do the statuses in ``allow_statuses``. 404/410 raise NotFound,
        401/403 AccessDenied, 5xx and network errors Unavailable.
        """
        limit = max_bytes or self.max_bytes
        started = time.monotonic()
        integration = self.check_url(url, integration)
        attempts = 0
        current = url
        redirects = 0
        while True:
            netloc = netloc_of(current)
            self._wait_for(netloc, time.time())
            if time.monotonic() - started > self.deadline:
                raise errors.Unavailable(f"Reading {_safe(url)} took longer than {self.deadline:.0f} s.")
            send = {"User-Agent": USER_AGENT, **(headers or {})}
            if accept:
                send["Accept"] = accept
            if etag:
                send["If-None-Match"] = etag
            send.update(self.auth_headers(integration, current))
            body = None
            if json_body is not None:
                body = json.dumps(json_body).encode()
                send["Content-Type"] = "application/json"
            response = self._send(integration, method, current, send, limit, started, body)
            until = rate_limit_wait(response.status, response.headers, response.body, time.time())
            if until is not None:
                _block(netloc, until)
                if response.status in (403, 429):
                    attempts += 1
                    if attempts > 2 or until - time.time() > self.max_rate_wait:
                        raise errors.RateLimited(
                            f"{netloc} is rate-limiting Bridge; it may try again at {_when(until)}.",
                            retry_at=datetime.fromtimestamp(until, tz=UTC),
                        )
                    continue
            if response.status in REDIRECTS and "Location" in response.headers and json_body is not None:
                raise errors.RedirectRefused(f"{_safe(url)} redirected a {method}; Bridge does not send it again.")
            if response.status in REDIRECTS and "Location" in response.headers:
                redirects += 1
                target = urljoin(current, response.headers["Location"])
                if redirects > MAX_REDIRECTS:
                    raise errors.RedirectRefused(f"{_safe(url)} redirected more than {MAX_REDIRECTS} times.")
                if urlsplit(target).scheme.lower() not in ("http", "https") or netloc_of(target) not in (
                    integration.netlocs
                ):
                    raise errors.RedirectRefused(
                        f"{_safe(url)} redirected to {netloc_of(target) or 'another scheme'}, which is not "
                        f"{integration.host}; Bridge does not follow redirects to other hosts."
                    )
                if urlsplit(target).username:
                    raise errors.RedirectRefused("The redirect carries credentials; refused.")
                current = target
                if response.status == 303:
                    method = "GET"
                continue
            response.integration = integration
            return self._judge(response, url, allow_statuses)

    def _send(self, integration, method, url, headers, limit, started, body: bytes | None = None) -> HostResponse:
        timeout = (self.connect_timeout, self.read_timeout)
        try:
            with self._session(integration).request(
                method, url, headers=headers, data=body, allow_redirects=False, stream=True, timeout=timeout
            ) as raw:
                declared = raw.headers.get("Content-Length", "")
                if declared.isdigit() and int(declared) > limit:
                    raise errors.TooLarge(f"{_safe(url)} is larger than {limit} bytes.")
                chunks, size = [], 0
                for chunk in raw.iter_content(chunk_size=65536):
                    size += len(chunk)
                    if size > limit:
                        raise errors.TooLarge(f"{_safe(url)} is larger than {limit} bytes.")
                    if time.monotonic() - started > self.deadline:
                        raise errors.Unavailable(f"Reading {_safe(url)} took longer than {self.deadline:.0f} s.")
                    chunks.append(chunk)
                return HostResponse(url=url, status=raw.status_code, headers=raw.headers, body=b"".join(chunks))
        except requests.exceptions.Timeout:
            raise errors.Unavailable(f"{netloc_of(url)} did not answer in time.") from None
        except requests.exceptions.ConnectionError as exc:
            reason = exc.args[0] if exc.args else exc
            inner = getattr(reason, "reason", None)
            raise errors.Unavailable(f"Cannot connect to {netloc_of(url)}: {inner or reason}") from None
        except requests.exceptions.RequestException as exc:
            raise errors.Unavailable(f"Reading {_safe(url)} failed: {exc.__class__.__name__}") from None

    @staticmethod
    def _judge(response: HostResponse, url: str, allow_statuses) -> HostResponse:
        status = response.status
        if status < 300 or status == 304 or status in allow_statuses:
            return response
        if status in (404, 410):
            raise errors.NotFound(f"{_safe(url)} was not found ({status}).")
        if status in (401, 403):
            raise errors.AccessDenied(
                f"{netloc_of(url)} refused access ({status}); check the integration's token and its scopes."
            )
        if status >= 500:
            raise errors.Unavailable(f"{netloc_of(url)} answered {status}; Bridge will try again later.")
        raise errors.GitHostError(f"{netloc_of(url)} answered {status} for {_safe(url)}.")

    def get(self, url: str, **kwargs) -> HostResponse:
        return self.request("GET", url, **kwargs)

    def head(self, url: str, **kwargs) -> HostResponse:
        return self.request("HEAD", url, **kwargs)

    def paginate(self, url: str, *, accept: str = "", max_pages: int = 1000, integration: Integration | None = None):
        """Yield each page's response, following ``Link: rel="next"`` (GitHub and GitLab both send it)."""
        pages = 0
        while url and pages < max_pages:
            response = self.get(url, accept=accept, integration=integration)
            yield response
            pages += 1
            url = response.links.get("next", "")


def _when(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, tz=UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _safe(url: str) -> str:
    """A URL fit for messages: no query string (it may carry a token), at most 200 characters."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}{parts.path}"[:200]


_local = threading.local()


def client() -> GitHostClient:
    """This thread's client (connections are kept alive between requests)."""
    found = getattr(_local, "client", None)
    if found is None:
        found = _local.client = GitHostClient()
    return found


def reset_clients() -> None:
    """Forget this thread's client (tests change settings between cases)."""
    _local.client = None


__all__ = ["GitHostClient", "HostResponse", "client", "guarded_connect", "rate_limit_wait"]
