"""A real, certified OpenID Provider for the sign-in tests: panva's ``oidc-provider`` run by Node.js.

``tests/oidc/provider.mjs`` starts it on 127.0.0.1 with the clients, accounts and signing key a test
gives; ``.ci/run`` installs it (``npm ci`` in ``tests/oidc``). Tests skip, saying why, when Node.js or
the package is missing. Besides the provider's own endpoints, the harness can swap the ID token of
the next token response (an attacker on the network), replay the last one, and change the accounts
(an administrator removing someone from a group).
"""

from __future__ import annotations

import json
import shutil
import subprocess  # nosec B404: starts the test provider with a fixed argument list
import tempfile
import time
from pathlib import Path

import requests
from joserfc import jwt
from joserfc.jwk import RSAKey

HERE = Path(__file__).resolve().parent / "oidc"
NODE = shutil.which("node")


def unavailable_reason() -> str | None:
    """Why the provider cannot run here, or None."""
    if NODE is None:
        return "Node.js is not installed (the OIDC tests run the npm package oidc-provider with it)"
    if not (HERE / "node_modules" / "oidc-provider").is_dir():
        return "oidc-provider is not installed: run `npm ci` in tests/oidc (as .ci/run does)"
    return None


def new_key(kid: str) -> RSAKey:
    return RSAKey.generate_key(2048, parameters={"kid": kid, "use": "sig", "alg": "RS256"}, private=True)


class OidcProvider:
    """The provider process. ``accounts``: {account id: claims (email, name, groups, ...)}."""

    def __init__(self, *, clients: list[dict], accounts: dict[str, dict], key: RSAKey | None = None, port: int = 0):
        self.key = key or new_key("bridge-test-1")
        self.clients = clients
        self.accounts = accounts
        self.port = port
        self.process: subprocess.Popen | None = None
        self.issuer = ""
        self._dir = tempfile.TemporaryDirectory(prefix="bridge-oidc-")

    def start(self) -> OidcProvider:
        config = Path(self._dir.name) / "config.json"
        config.write_text(
            json.dumps(
                {
                    "port": self.port,
                    "clients": self.clients,
                    "accounts": self.accounts,
                    "jwks": {"keys": [self.key.as_dict(private=True)]},
                }
            )
        )
        self.process = subprocess.Popen(  # nosec B603: fixed arguments, no shell
            [NODE, str(HERE / "provider.mjs"), str(config)],
            cwd=HERE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        line = self.process.stdout.readline()
        if not line:
            self.stop()
            raise RuntimeError("the OIDC provider did not start: " + self.process.stderr.read()[-2000:])
        started = json.loads(line)
        self.issuer, self.port = started["issuer"], started["port"]
        deadline = time.monotonic() + 20
        while True:
            try:
                requests.get(self.issuer + "/.well-known/openid-configuration", timeout=2).raise_for_status()
                break
            except requests.RequestException:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        return self

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        if self.process is not None:
            for stream in (self.process.stdout, self.process.stderr):
                if stream:
                    stream.close()
        self._dir.cleanup()

    # --- the test's hands at the provider ---------------------------------------------------------

    def set_accounts(self, accounts: dict[str, dict]) -> None:
        self.accounts = accounts
        requests.post(self.issuer + "/__test__/accounts", json=accounts, timeout=5).raise_for_status()

    def answer_next_token_request_with(self, id_token: str) -> None:
        requests.post(
            self.issuer + "/__test__/next-id-token", json={"id_token": id_token}, timeout=5
        ).raise_for_status()

    def last_id_token(self) -> str:
        return requests.get(self.issuer + "/__test__/last-id-token", timeout=5).json()["id_token"]

    def sign(self, claims: dict, *, key: RSAKey | None = None) -> str:
        """An ID token with these claims, signed by the provider's key (or another one)."""
        key = key or self.key
        return jwt.encode({"alg": "RS256", "kid": key.kid}, claims, key)

    def __enter__(self) -> OidcProvider:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
