"""Container health check: GET /healthz on the local web server.

Used by the image's HEALTHCHECK and by docker compose. Django answers only to
the host names in ALLOWED_HOSTS, so the request carries the first usable one.
Exits 0 when /healthz answers 200, 1 otherwise. Standard library only.
"""

import http.client
import os
import sys


def host_header(allowed_hosts: str) -> str:
    for host in (item.strip() for item in allowed_hosts.split(",")):
        if not host or host == "*":
            continue
        return host.lstrip(".") or "localhost"
    return "localhost"


def main() -> int:
    port = int(os.environ.get("HEALTHCHECK_PORT", "8000"))
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=4)
    try:
        connection.request("GET", "/healthz", headers={"Host": host_header(os.environ.get("ALLOWED_HOSTS", ""))})
        status = connection.getresponse().status
    except OSError as exc:
        print(f"healthz unreachable: {exc}", file=sys.stderr)
        return 1
    finally:
        connection.close()
    if status != 200:
        print(f"healthz answered {status}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
