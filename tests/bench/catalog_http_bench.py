"""Catalog reads over HTTP, side by side with Backstage: ``python tests/bench/catalog_http_bench.py``.

Not part of the pass/fail suite. It uses a scratch PostgreSQL database that it drops and creates
(``bridge_catalog_bench`` unless ``--database-url`` names another)::

    .venv/bin/python tests/bench/catalog_http_bench.py --components 10000 \\
        [--backstage http://127.0.0.1:7007] [--workers 2] [--threads 4|1]

What it does:

1. generates the shared catalog (``../shared/bench/gen_catalog.py N``, else the same shape written
   here) and migrates the scratch database;
2. starts gunicorn with production settings (``PORTAL_ENV=production``, DEBUG off, a random
   SECRET_KEY, collected static files, access log on) and a personal API token with the read scope:
   every API request goes through token authentication, permissions and the throttle (its rate
   set to 10,000 a second so that it counts without refusing the benchmark's own traffic);
   then imports the catalog with ``manage.py catalog_import`` in a new process and times it until
   the running server serves every entity (the API's count and the last entity by reference), then
   re-imports it unchanged. A Celery worker runs beside it, as in a deployment (after a large
   import it vacuums the entity table, which a deep list page needs to read only an index).
   Python runs with a bytecode cache, as in the container image (which compiles everything when
   it is built): without one every command compiles Bridge and its libraries again, about 2 s
   here, and that would be measured instead of the import;
3. reads over HTTP with one keep-alive client (``http.client``), 200 sequential requests per figure
   after 20 warm-ups: a list of 50 components, an entity by reference, a name substring search,
   facet counts (kind, type), the HTML catalog list page with facets (the two pages people land
   on, which the workers keep per catalog version, and pages nobody has asked for yet) and an
   HTML entity page (signed in with a session); then throughput with 10 connections (the median of 3 windows of 5 s);
4. with ``--backstage URL`` sends the same requests to a Backstage catalog backend in the same run,
   one Bridge request then one Backstage request, alternates the two sides' throughput windows
   (which side goes first alternates too), and prints the ratios.

Each figure is printed with its budget (issue #18) and whether it was met. Without ``--backstage``
the budgets that are relative to Backstage use the Backstage figures measured on this kind of
machine (issue #18: by reference p95 4.6 ms, list p95 53 ms, search p95 18 ms, throughput 249 / 46
requests/s); they are labelled as such.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import secrets
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
SHARED_GENERATOR = ROOT.parent / "shared" / "bench" / "gen_catalog.py"

# Backstage's figures from issue #18 (same machine kind, over HTTP), used when no Backstage runs beside.
BACKSTAGE_REFERENCE = {"ref_p95": 4.6, "list_p95": 53.0, "search_p95": 18.0, "ref_rps": 249.0, "list_rps": 46.0}


# --- HTTP client ---------------------------------------------------------------------------------------


class Client:
    """One keep-alive connection; ``get`` returns (status, milliseconds, body length)."""

    def __init__(self, base: str, headers: dict[str, str] | None = None):
        parts = urlsplit(base)
        self.host, self.port = parts.hostname, parts.port or 80
        self.prefix = parts.path.rstrip("/")
        self.headers = {"Host": f"{self.host}:{self.port}", **(headers or {})}
        self.conn = http.client.HTTPConnection(self.host, self.port, timeout=60)

    def get(self, path: str) -> tuple[int, float, bytes]:
        for attempt in range(2):
            start = time.perf_counter()
            try:
                self.conn.request("GET", self.prefix + path, headers=self.headers)
                response = self.conn.getresponse()
                body = response.read()
                return response.status, (time.perf_counter() - start) * 1000, body
            except (http.client.HTTPException, ConnectionError):
                self.conn.close()
                self.conn = http.client.HTTPConnection(self.host, self.port, timeout=60)
                if attempt:
                    raise
        raise AssertionError("unreachable")


@dataclass
class Figure:
    samples: list[float] = field(default_factory=list)
    errors: int = 0

    def add(self, status: int, ms: float) -> None:
        if status == 200:
            self.samples.append(ms)
        else:
            self.errors += 1

    @property
    def median(self) -> float:
        return statistics.median(self.samples) if self.samples else float("nan")

    @property
    def p95(self) -> float:
        s = sorted(self.samples)
        return s[min(len(s) - 1, int(len(s) * 0.95))] if s else float("nan")

    @property
    def max(self) -> float:
        return max(self.samples) if self.samples else float("nan")


# --- the requests, one function per figure: path for request i ------------------------------------------


def bridge_paths(n: int) -> dict[str, callable]:
    return {
        "list": lambda i: f"/api/catalog/entities/?kind=component&page_size=50&page={1 + i % 20}",
        "ref": lambda i: f"/api/catalog/entities/by-ref/component:default/service-{(i * 37) % n}/",
        "search": lambda i: f"/api/catalog/entities/?q=ice-{(i * 13) % 1000}&page_size=50",
        "facets": lambda i: "/api/catalog/entity-facets/?facet=kind&facet=type",
        "html_list": lambda i: "/catalog/?kind=Component" if i % 2 else "/catalog/",
        # A page nobody has asked for since the catalog last changed (424 pages at N = 10,000): the
        # list's table is built, not taken from the few that each worker keeps.
        "html_list_new": lambda i: f"/catalog/?page={2 + i % 420}",
        "html_entity": lambda i: f"/catalog/component/default/service-{(i * 37) % n}/",
    }


def backstage_paths(n: int) -> dict[str, callable]:
    base = "/api/catalog"
    return {
        "list": lambda i: f"{base}/entities/by-query?limit=50&filter=kind=component&offset={50 * (i % 20)}",
        "ref": lambda i: f"{base}/entities/by-name/component/default/service-{(i * 37) % n}",
        "search": lambda i: (
            f"{base}/entities/by-query?limit=50&fullTextFilterTerm=ice-{(i * 13) % 1000}"
            "&fullTextFilterFields=metadata.name"
        ),
        "facets": lambda i: f"{base}/entity-facets?facet=kind&facet=spec.type",
    }


LABELS = {
    "list": "API list of 50, kind=component",
    "ref": "API entity by reference",
    "search": "API name substring search, 50",
    "facets": "API facet counts (kind, type)",
    "html_list": "HTML catalog list page with facets",
    "html_list_new": "HTML catalog list page, a page first asked for",
    "html_entity": "HTML entity page",
}


def sequential(clients: dict[str, tuple[Client, dict]], figure: str, count: int, warmup: int) -> dict[str, Figure]:
    """``count`` requests per system after ``warmup``, alternating one request per system."""
    out = {name: Figure() for name, (_c, paths) in clients.items() if figure in paths}
    for i in range(warmup + count):
        for name in out:
            client, paths = clients[name]
            status, ms, _ = client.get(paths[figure](i))
            if i >= warmup:
                out[name].add(status, ms)
    return out


def throughput(make_client, path_of, *, connections: int, seconds: float) -> tuple[float, int]:
    """Requests per second with ``connections`` keep-alive connections for ``seconds`` (bounded)."""
    done, errors, lock = [0], [0], threading.Lock()
    stop_at = time.monotonic() + seconds

    def run(k: int) -> None:
        client = make_client()
        i, ok, bad = k * 1000, 0, 0
        while time.monotonic() < stop_at and ok + bad < 100_000:
            status, _ms, _ = client.get(path_of(i))
            ok, bad, i = ok + (status == 200), bad + (status != 200), i + 1
        with lock:
            done[0] += ok
            errors[0] += bad

    start = time.monotonic()
    threads = [threading.Thread(target=run, args=(k,)) for k in range(connections)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return done[0] / (time.monotonic() - start), errors[0]


# --- Bridge: database, import, gunicorn -------------------------------------------------------------------


def generate(n: int, out: Path) -> None:
    if SHARED_GENERATOR.exists():
        subprocess.run([sys.executable, str(SHARED_GENERATOR), str(n), str(out)], check=True, stdout=subprocess.DEVNULL)
    else:  # the same shape, written by the in-process benchmark
        sys.path.insert(0, str(ROOT))
        from tests.bench.catalog_bench import generate as generate_here

        generate_here(n, out)


def reset_database(url: str) -> None:
    import psycopg

    name = url.rsplit("/", 1)[1]
    with psycopg.connect(url.rsplit("/", 1)[0] + "/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def manage(env: dict, *args: str) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def credentials(env: dict) -> dict:
    """A developer (in a team, not an admin) with a read token and a signed-in session."""
    script = """
import json
from django.contrib.auth import get_user_model
from django.test import Client
from portal import services
user, _ = get_user_model().objects.get_or_create(username="bench-developer")
token = services.token_create(user=user, name="bench-" + __import__("secrets").token_hex(4), scopes=["read"]).key
client = Client()
client.force_login(user)
print(json.dumps({"token": token, "session": client.cookies["sessionid"].value}))
"""
    out = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", script], cwd=ROOT, env=env, check=True, capture_output=True
    )
    return json.loads(out.stdout.decode().strip().splitlines()[-1])


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def children(pid: int) -> list[int]:
    try:
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def load_average() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


# --- report ---------------------------------------------------------------------------------------------


def verdict(value: float, budget: float, *, higher_is_better: bool = False) -> str:
    if value != value:  # nan
        return "missed (no successful request)"
    met = value >= budget if higher_is_better else value <= budget
    return "met" if met else "MISSED"


def main() -> int:
    # Stopped with SIGTERM: unwind (the finally below stops gunicorn) instead of leaving it running.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--components", type=int, default=10000, help="N of gen_catalog.py (2N + N/50 + N/10 entities)")
    parser.add_argument(
        "--database-url",
        default=os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/bridge_catalog_bench"),
        help="scratch PostgreSQL database: it is dropped and created",
    )
    parser.add_argument(
        "--backstage", default="", help="base URL of a Backstage catalog backend, e.g. http://127.0.0.1:7007"
    )
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument(
        "--threads",
        type=int,
        default=4,
        help="gunicorn threads per worker, as gunicorn.conf.py sets (1: the sync worker)",
    )
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=5.0, help="length of each throughput window")
    parser.add_argument("--rounds", type=int, default=3, help="throughput windows per side; the median is the figure")
    parser.add_argument("--catalog", default="", help="an already generated catalog folder")
    parser.add_argument("--static-root", default="", help="reuse static files collected by an earlier run")
    parser.add_argument("--skip-import", action="store_true", help="keep the database and its catalog as they are")
    parser.add_argument(
        "--import-only", action="store_true", help="time the import and the re-import, then stop (no reads)"
    )
    args = parser.parse_args()
    n = args.components

    work = Path(tempfile.mkdtemp(prefix="bridge-catalog-http-"))
    env = dict(
        os.environ,
        PYTHONUNBUFFERED="1",
        DJANGO_SETTINGS_MODULE="portal.settings",
        PORTAL_ENV="production",
        DEBUG="0",
        SECRET_KEY=secrets.token_urlsafe(50),
        ALLOWED_HOSTS="127.0.0.1,localhost",
        SECURE_SSL_REDIRECT="0",
        DATABASE_URL=args.database_url,
        DB_CONN_MAX_AGE="600",
        STATIC_ROOT=args.static_root or str(work / "static"),
        PORTAL_VAR_DIR=str(work / "var"),
        CATALOG_IMPORT_ROOTS=str(work),
        # Per second rather than per minute: DRF keeps every request's time in the window, so a
        # minute's window at benchmark rates would make the throttle, not the catalog, what is measured.
        API_THROTTLE_TOKEN_RATE="10000/second",
        API_THROTTLE_USER_RATE="10000/second",
        # A bytecode cache, as the image has (``compileall`` at build; pip compiles the libraries).
        PYTHONPYCACHEPREFIX=str(work / "pycache"),
    )
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env.setdefault("CELERY_BROKER_URL", "redis://127.0.0.1:6379/6")

    figures: list[tuple[str, str, str, str, str]] = []  # label, bridge, backstage, ratio, budget+verdict

    catalog = Path(args.catalog) if args.catalog else work / "catalog"
    if not args.catalog:
        generate(n, catalog)
    if not args.skip_import:
        print(f"resetting {args.database_url} and migrating …", flush=True)
        reset_database(args.database_url)
        manage(env, "migrate", "--verbosity", "0")  # also fills the bytecode cache
    if not (Path(env["STATIC_ROOT"]) / "staticfiles.json").exists():
        print("collecting static files …", flush=True)
        manage(env, "collectstatic", "--noinput", "--verbosity", "0")
    creds = credentials(env)

    port = _free_port()
    command = [
        str(BIN / "gunicorn"),
        "portal.wsgi",
        "--bind",
        f"127.0.0.1:{port}",
        "--workers",
        str(args.workers),
        "--keep-alive",
        "75",
        "--access-logfile",
        str(work / "access.log"),
        "--error-logfile",
        str(work / "error.log"),
    ]
    command += ["--threads", str(args.threads)]
    server = subprocess.Popen(command, cwd=ROOT, env=env)
    # A deployment's worker: after a large import it vacuums the entity table (catalog.vacuum_after_import).
    worker = subprocess.Popen(
        [str(BIN / "celery"), "-A", "portal", "worker", "-Q", "default", "--concurrency", "1", "--purge",
         "--loglevel", "warning", "--logfile", str(work / "worker.log")],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=(work / "worker.err").open("wb"),
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_until_up(base)
        api_headers = {"Authorization": f"Bearer {creds['token']}", "Accept": "application/json"}
        html_headers = {"Cookie": f"sessionid={creds['session']}"}
        if not args.skip_import:
            figures += import_figures(env, catalog, Client(base, api_headers), n)
            if args.import_only:
                _print(figures, f"N = {n:,} components ({2 * n + n // 50 + n // 10:,} entities), PostgreSQL")
                return 0
        bridge_api = Client(base, api_headers)
        bridge_html = Client(base, html_headers)
        bpaths = bridge_paths(n)
        api_paths = {k: v for k, v in bpaths.items() if not k.startswith("html")}
        html_paths = {k: v for k, v in bpaths.items() if k.startswith("html")}
        clients = {"bridge": (bridge_api, api_paths), "bridge_html": (bridge_html, html_paths)}
        backstage_up = False
        if args.backstage:
            clients["backstage"] = (Client(args.backstage), backstage_paths(n))
            backstage_up = True
        _sanity(bridge_api, bridge_html, bpaths)

        load_before = load_average()
        print(f"\nload average before the reads: {load_before}", flush=True)
        results: dict[str, dict[str, Figure]] = {}
        for figure in ("list", "ref", "search", "facets", "html_list", "html_list_new", "html_entity"):
            results[figure] = sequential(clients, figure, args.requests, args.warmup)
        # Each side's throughput is the median of --rounds windows, the two sides' windows alternating
        # (the side that goes first alternating too), so that a minute of background work on the
        # machine falls on both sides alike.
        rounds: dict[tuple[str, str], list[tuple[float, int]]] = {}
        for figure in ("ref", "list"):
            sides = [("bridge", lambda: Client(base, api_headers), bpaths[figure])]
            if backstage_up:
                sides.append(("backstage", lambda: Client(args.backstage), backstage_paths(n)[figure]))
            for round_number in range(args.rounds):
                for side, make_client, path_of in sides if round_number % 2 == 0 else sides[::-1]:
                    rounds.setdefault((side, figure), []).append(
                        throughput(make_client, path_of, connections=10, seconds=args.seconds)
                    )
        rps = {
            key: (statistics.median(rate for rate, _ in windows), sum(errors for _, errors in windows), windows)
            for key, windows in rounds.items()
        }
        load_after = load_average()
        workers = children(server.pid)
        memory = [rss_mib(pid) for pid in workers]
        master = rss_mib(server.pid)
    finally:
        for process in (server, worker):
            process.terminate()
        server.wait(timeout=30)
        worker.wait(timeout=30)

    def reference(key: str) -> tuple[float, str]:
        return BACKSTAGE_REFERENCE[key], "Backstage in issue #18"

    for figure in ("list", "ref", "search", "facets", "html_list", "html_list_new", "html_entity"):
        mine = results[figure]["bridge" if not figure.startswith("html") else "bridge_html"]
        theirs = results[figure].get("backstage")
        cell = f"{mine.median:.1f} / {mine.p95:.1f} / {mine.max:.1f} ms" + (
            f" ({mine.errors} errors)" if mine.errors else ""
        )
        other = f"{theirs.median:.1f} / {theirs.p95:.1f} / {theirs.max:.1f} ms" if theirs else ""
        ratio = f"{mine.p95 / theirs.p95:.2f}× p95" if theirs and theirs.p95 else ""
        if figure == "ref":
            budget, source = (theirs.p95, "Backstage's p95") if theirs else reference("ref_p95")
        elif figure == "list":
            budget, source = (
                (theirs.p95 / 2, "half Backstage's p95")
                if theirs
                else (
                    BACKSTAGE_REFERENCE["list_p95"] / 2,
                    "half Backstage's p95 in issue #18",
                )
            )
        elif figure == "search":
            budget, source = (theirs.p95, "Backstage's p95") if theirs else reference("search_p95")
        else:
            budget, source = 50.0, "50 ms"
        figures.append(
            (
                f"{LABELS[figure]}, median / p95 / max",
                cell,
                other,
                ratio,
                f"p95 ≤ {budget:.1f} ms ({source}): {verdict(mine.p95, budget)}",
            )
        )
    for figure in ("ref", "list"):
        mine, errors, windows = rps[("bridge", figure)]
        theirs = rps.get(("backstage", figure))
        budget, source = (theirs[0], "Backstage's") if theirs else reference(f"{figure}_rps")

        def each(windows) -> str:
            return "" if len(windows) < 2 else " (" + " / ".join(f"{rate:.0f}" for rate, _ in windows) + ")"

        figures.append(
            (
                f"throughput, 10 connections, {LABELS[figure]}",
                f"{mine:.0f} req/s{each(windows)}" + (f" ({errors} errors)" if errors else ""),
                f"{theirs[0]:.0f} req/s{each(theirs[2])}" if theirs else "",
                f"{mine / theirs[0]:.2f}×" if theirs and theirs[0] else "",
                f"≥ {budget:.0f} req/s ({source}): {verdict(mine, budget, higher_is_better=True)}",
            )
        )
    worst = max(memory) if memory else float("nan")
    figures.append(
        (
            f"peak memory per web worker ({len(memory)} workers; master {master:.0f} MiB)",
            f"{worst:.0f} MiB",
            "",
            "",
            f"≤ 150 MiB: {verdict(worst, 150)}",
        )
    )

    worker_kind = f"gthread, {args.threads} threads" if args.threads > 1 else "sync"
    _print(
        figures,
        f"N = {n:,} components ({2 * n + n // 50 + n // 10:,} entities), PostgreSQL, gunicorn {args.workers} "
        f"workers ({worker_kind}), production settings, personal read token; {args.requests} sequential "
        f"requests per figure after {args.warmup} warm-ups, one keep-alive client"
        + (", interleaved with Backstage" if backstage_up else "")
        + f"\nload average: {load_before} before the reads, {load_after} after (2 cores)",
        backstage=backstage_up,
    )
    print(f"\nlogs: {work}")
    return 0


def _print(figures: list[tuple], heading: str, *, backstage: bool = False) -> None:
    print(f"\n{heading}\n")
    header = ("figure", "Bridge", "Backstage" if backstage else "", "ratio" if backstage else "", "budget")
    widths = [max(len(str(row[i])) for row in [header, *figures]) for i in range(5)]
    for row in [header, *figures]:
        print("  ".join(str(cell).ljust(widths[i]) for i, cell in enumerate(row)).rstrip())


def import_figures(env: dict, catalog: Path, api: Client, n: int) -> list[tuple]:
    """Import until the running server serves every entity, then re-import unchanged (each a new process).

    Each figure includes starting Python and Django, what an operator waits for; that start-up is
    timed on its own too (``manage.py help catalog_import``), so the import's share can be told.
    """
    files = [str(f) for f in sorted(catalog.glob("*.yaml"))]
    expected, last = 2 * n + n // 50 + n // 10, f"/api/catalog/entities/by-ref/component:default/service-{n - 1}/"
    status, _ms, body = api.get("/api/catalog/entities/?page_size=1")
    if status != 200 or json.loads(body)["count"] != 0:
        raise SystemExit(f"the catalog is not empty before the import ({status}: {body[:200]!r})")
    load = load_average()
    start = time.perf_counter()
    command_s = manage(env, "catalog_import", *files)
    while True:  # the import commits once, at its end: the first poll normally sees everything
        status, _ms, body = api.get("/api/catalog/entities/?page_size=1")
        if status == 200 and json.loads(body)["count"] == expected and api.get(last)[0] == 200:
            break
        if time.perf_counter() - start > 600:
            raise SystemExit(f"not every entity was served 600 s after the import began ({status}: {body[:200]!r})")
        time.sleep(0.05)
    served_s = time.perf_counter() - start
    reimport_load = load_average()
    reimport_s = manage(env, "catalog_import", *files)
    startup_s = min(manage(env, "help", "catalog_import") for _ in range(3))
    return [
        (
            f"import until served over HTTP (manage.py {command_s:.1f} s, incl. start-up; load {load})",
            f"{served_s:.1f} s",
            "",
            "",
            _b(served_s, 5.0),
        ),
        (
            f"re-import unchanged (manage.py, incl. start-up; load {reimport_load})",
            f"{reimport_s:.1f} s",
            "",
            "",
            _b(reimport_s, 2.0),
        ),
        ("of which Python and Django start-up (manage.py help, best of 3)", f"{startup_s:.1f} s", "", "", ""),
    ]


def _b(value: float, budget: float) -> str:
    return f"≤ {budget:.0f} s: {verdict(value, budget)}"


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_until_up(base: str) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if Client(base).get("/healthz")[0] == 200:
                return
        except OSError:
            pass
        time.sleep(0.3)
    raise SystemExit("gunicorn did not answer /healthz within 60 s")


def _sanity(api: Client, html: Client, paths: dict) -> None:
    """Fail loudly if the figures would measure error pages."""
    for name, path_of in paths.items():
        client = html if name.startswith("html") else api
        status, _ms, body = client.get(path_of(1))
        if status != 200:
            raise SystemExit(f"{name}: {path_of(1)} answered {status}: {body[:300]!r}")


if __name__ == "__main__":
    sys.exit(main())
