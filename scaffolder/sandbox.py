"""Loading and rendering software templates, with nothing of the template ever executed.

A template is a folder: ``bridge-scaffold.yaml`` (title, owner, tags, parameters as JSON Schema,
approval, steps), an optional ``copier.yml`` and the files to render under ``skeleton/``. The
file layout is Copier's: names may hold ``{{ expressions }}``, files ending in ``.jinja`` are
rendered (and lose the suffix), other files are copied as they are. Bridge renders them itself,
with :class:`jinja2.sandbox.SandboxedEnvironment`; Copier's own machinery (which runs ``_tasks``
and ``_migrations`` and loads ``_jinja_extensions``) is never imported.

Refused when the template loads, each with a message that says which file and why:

* Copier's ``_tasks``, ``_migrations``, ``_jinja_extensions`` (in ``copier.yml`` or the
  descriptor), and Cookiecutter's ``hooks/`` folder: they run code on the portal's workers;
* symbolic links, devices, pipes: only regular files are read (``lstat``, never followed);
* more than ``MAX_FILES`` files, a file over ``MAX_FILE_BYTES`` (sized before it is read, so a
  1 GB sparse file is never read) or more than ``MAX_TOTAL_BYTES`` in all;
* a path (before or after rendering) that is absolute or climbs out with ``..``;
* an expression the sandbox refuses (``''.__class__.__mro__``): every file is test-rendered at
  load with sample values.

Rendering for a run happens again under the same rules, in a child process with CPU and memory
limits, so that even a template that loops for ever costs the worker a few seconds at most.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import posixpath
import resource
import selectors
import signal
import stat
import time
from dataclasses import dataclass, field
from pathlib import Path

from jinja2 import StrictUndefined, TemplateError
from jinja2.sandbox import SandboxedEnvironment, SecurityError

from portal import safe_yaml

DESCRIPTOR_NAME = "bridge-scaffold.yaml"
SKELETON = "skeleton"
TEMPLATE_SUFFIX = ".jinja"
MAX_FILES = 500
MAX_FILE_BYTES = 1024 * 1024
MAX_TOTAL_BYTES = 16 * 1024 * 1024
MAX_OUTPUT_BYTES = 16 * 1024 * 1024
MAX_STRING = 1024 * 1024  # the longest string one expression may build
RENDER_SECONDS = 20
RENDER_MEMORY = 1024 * 1024 * 1024
# What Bridge gives every template besides its parameters (see ``run_values`` in services).
BUILTIN_VALUES = ("name", "package", "owner", "requester", "repository_url", "repository_slug")

# What runs code: Copier's keys and Cookiecutter's folder.
FORBIDDEN_KEYS = {
    "_tasks": "Copier tasks run commands on the portal's workers",
    "_migrations": "Copier migrations run commands on the portal's workers",
    "_jinja_extensions": "Jinja extensions load Python code into the renderer",
}
COPIER_KEYS = {"_subdirectory", "_exclude", "_templates_suffix", "_answers_file", "_min_copier_version"}

DESCRIPTOR_SCHEMA = {
    "type": "object",
    "additionalProperties": False,
    "required": ["name", "title", "parameters"],
    "properties": {
        "apiVersion": {"const": "bridge/v1"},
        "kind": {"const": "SoftwareTemplate"},
        "name": {"type": "string", "pattern": "^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$"},
        "title": {"type": "string", "minLength": 1, "maxLength": 200},
        "description": {"type": "string", "maxLength": 5000},
        "owner": {"type": "string", "maxLength": 200},
        "tags": {"type": "array", "items": {"type": "string", "pattern": "^[a-z0-9][a-z0-9+#.-]{0,62}$"}},
        "parameters": {"type": "object"},
        "approval": {
            "type": "object",
            "additionalProperties": False,
            "required": ["policy"],
            "properties": {
                "policy": {"enum": ["auto", "any", "distinct"]},
                "group": {"type": "string", "minLength": 1, "maxLength": 150},
                "count": {"type": "integer", "minimum": 1, "maximum": 10},
            },
        },
        "publish": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "defaultBranch": {"type": "string", "pattern": "^[A-Za-z0-9][A-Za-z0-9._/-]{0,99}$"},
                "visibility": {"enum": ["private", "internal", "public"]},
            },
        },
        "steps": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "docs": {"type": "boolean"},
                "environment": {
                    "type": "object",
                    "additionalProperties": False,
                    "required": ["template"],
                    "properties": {
                        "template": {"type": "string", "minLength": 1, "maxLength": 100},
                        "ttlHours": {"type": "integer", "minimum": 1},
                        "parameters": {"type": "object"},
                        "optional": {"type": "boolean"},
                    },
                },
            },
        },
    },
}


class TemplateRefused(Exception):
    """The template cannot be loaded or rendered; the message says why (safe to show)."""


@dataclass
class LoadedTemplate:
    name: str
    descriptor: dict
    files: dict[str, str]  # skeleton path -> base64 content
    digest: str
    source: str
    excluded: list[str] = field(default_factory=list)

    @property
    def parameters_schema(self) -> dict:
        return self.descriptor["parameters"]


# --- the sandbox -----------------------------------------------------------------------------------


class _Sandbox(SandboxedEnvironment):
    """Jinja's sandbox, plus bounds on what one expression may build (``'x' * 10**9``)."""

    intercepted_binops = frozenset(["*", "**", "+"])

    def call_binop(self, context, operator, left, right):
        if operator == "**" and isinstance(right, int | float) and abs(right) > 64:
            raise SecurityError("the exponent is too large for a template")
        if operator == "*":
            for seq, times in ((left, right), (right, left)):
                if isinstance(seq, str | list | tuple) and isinstance(times, int) and len(seq) * times > MAX_STRING:
                    raise SecurityError("the expression builds a value larger than a template may")
        sequences = isinstance(left, str | list | tuple) and isinstance(right, str | list | tuple)
        if operator == "+" and sequences and len(left) + len(right) > MAX_STRING:
            raise SecurityError("the expression builds a value larger than a template may")
        return super().call_binop(context, operator, left, right)


def _environment() -> _Sandbox:
    return _Sandbox(undefined=StrictUndefined, autoescape=False, keep_trailing_newline=True, extensions=[])


def _explain(exc: Exception) -> str:
    if isinstance(exc, SecurityError):
        return f"the sandbox refused it: {exc}"
    if isinstance(exc, TemplateError):
        line = getattr(exc, "lineno", None)
        return f"{exc.__class__.__name__}{f' on line {line}' if line else ''}: {str(exc)[:300]}"
    return f"{exc.__class__.__name__}: {str(exc)[:300]}"


def safe_relative(path: str, *, what: str) -> str:
    """A relative POSIX path that stays inside its folder; raises TemplateRefused otherwise."""
    if not path or "\x00" in path or "\\" in path:
        raise TemplateRefused(f"{what}: the path {path!r} is not allowed.")
    if path.startswith("/"):
        raise TemplateRefused(f"{what}: the path {path!r} is absolute; output paths stay inside the new repository.")
    normal = posixpath.normpath(path)
    if normal.startswith("../") or normal == ".." or ".." in path.split("/"):
        raise TemplateRefused(f"{what}: the path {path!r} leaves the output folder ('..' is refused).")
    if normal == "." or normal.split("/")[0] == ".git":
        raise TemplateRefused(f"{what}: the path {path!r} is not allowed (.git is Bridge's to write).")
    return normal


def render_files(files: dict[str, str], values: dict, *, suffix: str = TEMPLATE_SUFFIX) -> dict[str, bytes]:
    """Render a skeleton ({path: base64}) with ``values``: {output path: bytes}. Raises TemplateRefused."""
    env = _environment()
    out: dict[str, bytes] = {}
    total = 0
    for path in sorted(files):
        parts = []
        for part in path.split("/"):  # each folder and file name on its own: none may hold a '/'
            try:
                rendered = env.from_string(part).render(values) if "{{" in part or "{%" in part else part
            except Exception as exc:  # noqa: BLE001 - any failure of the template is reported, never raised raw
                raise TemplateRefused(f"{path}: the file name cannot be rendered ({_explain(exc)}).") from None
            if "/" in rendered or "\\" in rendered:
                raise TemplateRefused(
                    f"{path}: a name renders to {rendered!r}; a '/' there would be an absolute path or leave the "
                    "output folder."
                )
            parts.append(rendered)
        if any(part == "" for part in parts):
            continue  # a name that renders empty skips the file (Copier's convention for optional files)
        name = "/".join(parts)
        data = base64.b64decode(files[path])
        if name.endswith(suffix):
            name = name[: -len(suffix)]
            try:
                text = data.decode("utf-8")
            except UnicodeDecodeError:
                raise TemplateRefused(f"{path}: a {suffix} file must be UTF-8 text.") from None
            try:
                data = env.from_string(text).render(values).encode()
            except Exception as exc:  # noqa: BLE001
                raise TemplateRefused(f"{path}: {_explain(exc)}") from None
        name = safe_relative(name, what=path)
        if name in out:
            raise TemplateRefused(f"{path}: two files render to the same path {name}.")
        if len(data) > MAX_FILE_BYTES:
            raise TemplateRefused(f"{path}: renders to more than {MAX_FILE_BYTES // 1024} KiB.")
        total += len(data)
        if total > MAX_OUTPUT_BYTES:
            raise TemplateRefused(f"The rendered files add up to more than {MAX_OUTPUT_BYTES // (1024 * 1024)} MiB.")
        out[name] = data
    if len(out) > MAX_FILES:
        raise TemplateRefused(f"The template renders more than {MAX_FILES} files.")
    return out


def render_text(text: str, values: dict) -> str:
    """One short string (a step's setting such as ``{{ name }}``), in the same sandbox."""
    try:
        return _environment().from_string(text).render(values)[:MAX_STRING]
    except Exception as exc:  # noqa: BLE001
        raise TemplateRefused(f"{text[:80]!r}: {_explain(exc)}") from None


def _limit_child() -> None:
    resource.setrlimit(resource.RLIMIT_CPU, (RENDER_SECONDS, RENDER_SECONDS + 1))
    try:  # the child starts as a copy of its parent: allow what it has plus RENDER_MEMORY more
        with open("/proc/self/statm") as handle:
            current = int(handle.read().split()[0]) * resource.getpagesize()
        resource.setrlimit(resource.RLIMIT_AS, (current + RENDER_MEMORY, current + RENDER_MEMORY))
    except (ValueError, OSError):
        pass


def _child_result(files, values, suffix) -> bytes:
    try:
        rendered = render_files(files, values, suffix=suffix)
        answer = ["ok", {path: base64.b64encode(data).decode() for path, data in rendered.items()}]
    except TemplateRefused as exc:
        answer = ["refused", str(exc)]
    except MemoryError:
        answer = ["refused", "Rendering needed more memory than a template may use."]
    except Exception as exc:  # noqa: BLE001
        answer = ["refused", f"Rendering failed: {_explain(exc)}"]
    return json.dumps(answer).encode()


def render_isolated(files: dict[str, str], values: dict, *, suffix: str = TEMPLATE_SUFFIX) -> dict[str, bytes]:
    """``render_files`` in a forked child with CPU-time and memory limits (the worker and web use this).

    A plain ``os.fork`` (not ``multiprocessing``): Celery's pool processes are daemons, which
    ``multiprocessing`` forbids to have children. The child only renders and writes JSON to a pipe.
    """
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns
        code = 0
        try:
            os.close(read_end)
            _limit_child()
            payload = _child_result(files, values, suffix)
            view = memoryview(payload)
            while view:
                view = view[os.write(write_end, view) :]
        except BaseException:  # noqa: BLE001
            code = 1
        finally:
            os._exit(code)
    os.close(write_end)
    chunks, deadline = [], time.monotonic() + RENDER_SECONDS + 5
    killed = False
    try:
        with selectors.DefaultSelector() as selector:
            selector.register(read_end, selectors.EVENT_READ)
            while True:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    os.kill(pid, signal.SIGKILL)
                    killed = True
                    break
                if not selector.select(remaining):
                    continue
                chunk = os.read(read_end, 1 << 20)
                if not chunk:
                    break
                chunks.append(chunk)
    finally:
        os.close(read_end)
        os.waitpid(pid, 0)
    if killed:
        raise TemplateRefused(f"Rendering took longer than {RENDER_SECONDS} s; the template was stopped.")
    try:
        status, payload = json.loads(b"".join(chunks))
    except ValueError:
        raise TemplateRefused(
            "Rendering was stopped: the template used more CPU time or memory than allowed."
        ) from None
    if status != "ok":
        raise TemplateRefused(payload)
    return {path: base64.b64decode(data) for path, data in payload.items()}


# --- loading ---------------------------------------------------------------------------------------


def _forbidden_keys(data: dict, *, where: str) -> None:
    for key, why in FORBIDDEN_KEYS.items():
        if key in data:
            raise TemplateRefused(f"{where}: '{key}' is refused: {why}. Bridge never runs template code.")


def _read_yaml(path: Path, *, where: str) -> dict:
    info = os.lstat(path)
    if stat.S_ISLNK(info.st_mode) or not stat.S_ISREG(info.st_mode):
        raise TemplateRefused(f"{where} must be a regular file, not a link or a device.")
    if info.st_size > 256 * 1024:
        raise TemplateRefused(f"{where} is larger than 256 KiB.")
    try:
        data = safe_yaml.load(path.read_text("utf-8"), name=where)
    except Exception as exc:  # noqa: BLE001 - YAML errors and unsafe YAML alike
        raise TemplateRefused(f"{where} is not valid YAML: {str(exc)[:300]}") from None
    if not isinstance(data, dict):
        raise TemplateRefused(f"{where} must be a mapping of keys to values.")
    return data


def _check_parameters(schema: dict) -> None:
    from provisioning.services import parameter_schema_problem

    problem = parameter_schema_problem(schema)
    if problem:
        raise TemplateRefused(f"{DESCRIPTOR_NAME}: {problem}")
    for name in schema.get("properties", {}):
        if name in BUILTIN_VALUES:
            raise TemplateRefused(f"{DESCRIPTOR_NAME}: parameter {name!r} is reserved; Bridge fills it itself.")


def _walk(root: Path) -> dict[str, bytes]:
    """Every regular file below ``root`` (relative POSIX path -> bytes), under the caps; links refused."""
    found: dict[str, bytes] = {}
    total = 0
    for directory, subdirs, names in os.walk(root, followlinks=False):
        here = Path(directory)
        for name in sorted(subdirs + names):
            path = here / name
            relative = path.relative_to(root).as_posix()
            info = os.lstat(path)
            if stat.S_ISLNK(info.st_mode):
                raise TemplateRefused(f"{SKELETON}/{relative} is a symbolic link; templates may not hold links.")
            if stat.S_ISDIR(info.st_mode):
                continue
            if not stat.S_ISREG(info.st_mode):
                raise TemplateRefused(f"{SKELETON}/{relative} is not a regular file.")
            if info.st_size > MAX_FILE_BYTES:
                raise TemplateRefused(
                    f"{SKELETON}/{relative} is {info.st_size:,} bytes; a template file may have at most "
                    f"{MAX_FILE_BYTES:,}."
                )
            total += info.st_size
            if total > MAX_TOTAL_BYTES:
                raise TemplateRefused(
                    f"The template's files add up to more than {MAX_TOTAL_BYTES // (1024 * 1024)} MiB."
                )
            if len(found) >= MAX_FILES:
                raise TemplateRefused(f"The template has more than {MAX_FILES} files.")
            safe_relative(relative, what=f"{SKELETON}/{relative}")
            with open(path, "rb") as handle:  # read at most the cap, whatever the size said a moment ago
                data = handle.read(MAX_FILE_BYTES + 1)
            if len(data) > MAX_FILE_BYTES:
                raise TemplateRefused(f"{SKELETON}/{relative} grew beyond {MAX_FILE_BYTES:,} bytes while read.")
            found[relative] = data
    return found


def sample_values(schema: dict) -> dict:
    """Values that satisfy each parameter's type, to test-render a template at load."""
    values: dict = {
        "name": "sample-service",
        "package": "sample_service",
        "owner": "group:default/sample",
        "repository_url": "https://git.example.com/acme/sample-service",
        "repository_slug": "acme/sample-service",
    }
    values["requester"] = {"username": "sample", "name": "Sample Person", "email": "sample@example.com"}
    for name, prop in schema.get("properties", {}).items():
        if "default" in prop:
            values[name] = prop["default"]
        elif "enum" in prop:
            values[name] = prop["enum"][0]
        else:
            values[name] = {"string": "sample", "integer": 1, "number": 1.0, "boolean": True}.get(prop.get("type"), "")
    return values


def load_template(directory: Path) -> LoadedTemplate:
    """Read and check one template folder; raises TemplateRefused with the reason."""
    directory = Path(directory)
    info = os.lstat(directory)
    if stat.S_ISLNK(info.st_mode):
        raise TemplateRefused(f"{directory.name} is a symbolic link; templates may not be links.")
    if (directory / "hooks").exists() or (directory / SKELETON / "hooks").exists():
        raise TemplateRefused("hooks/ is refused: Cookiecutter hooks run code on the portal's workers.")
    descriptor_path = directory / DESCRIPTOR_NAME
    if not descriptor_path.exists():
        raise TemplateRefused(f"{DESCRIPTOR_NAME} is missing.")
    descriptor = _read_yaml(descriptor_path, where=DESCRIPTOR_NAME)
    _forbidden_keys(descriptor, where=DESCRIPTOR_NAME)
    from jsonschema import Draft202012Validator  # imported on use: web workers that never check a template skip it

    errors = sorted(Draft202012Validator(DESCRIPTOR_SCHEMA).iter_errors(descriptor), key=lambda e: list(e.path))
    if errors:
        where = "/".join(str(p) for p in errors[0].absolute_path) or "(top level)"
        raise TemplateRefused(f"{DESCRIPTOR_NAME} at {where}: {errors[0].message[:300]}")
    _check_parameters(descriptor["parameters"])
    suffix, excluded_patterns, subdirectory = TEMPLATE_SUFFIX, [], SKELETON
    for copier_name in ("copier.yml", "copier.yaml"):
        if (directory / copier_name).exists():
            copier = _read_yaml(directory / copier_name, where=copier_name)
            _forbidden_keys(copier, where=copier_name)
            for key in copier:
                if key.startswith("_") and key not in COPIER_KEYS:
                    raise TemplateRefused(f"{copier_name}: '{key}' is not supported by Bridge.")
                if not key.startswith("_"):
                    raise TemplateRefused(
                        f"{copier_name}: question {key!r}: parameters are declared in {DESCRIPTOR_NAME} as JSON Schema."
                    )
            suffix = str(copier.get("_templates_suffix", suffix)) or TEMPLATE_SUFFIX
            excluded_patterns = [str(p) for p in copier.get("_exclude", []) or []]
            subdirectory = safe_relative(str(copier.get("_subdirectory", SKELETON)), what=copier_name)
    root = directory / subdirectory
    if not root.is_dir() or root.is_symlink():
        raise TemplateRefused(f"The template has no {subdirectory}/ folder with the files to render.")
    import fnmatch

    raw = _walk(root)
    excluded = [p for p in raw if any(fnmatch.fnmatch(p, pattern) for pattern in excluded_patterns)]
    files = {p: base64.b64encode(d).decode() for p, d in raw.items() if p not in excluded}
    if not files:
        raise TemplateRefused(f"{subdirectory}/ holds no files.")
    # Test-render everything now, so a template the sandbox refuses never reaches a developer's form.
    render_files(files, sample_values(descriptor["parameters"]), suffix=suffix)
    descriptor = {**descriptor, "_suffix": suffix}
    digest = hashlib.sha256(json.dumps([descriptor, files], sort_keys=True).encode()).hexdigest()
    return LoadedTemplate(
        name=descriptor["name"],
        descriptor=descriptor,
        files=files,
        digest=digest,
        source=str(directory),
        excluded=excluded,
    )


def template_directories(root: Path) -> list[Path]:
    """The template folders directly below ``root`` (those with a descriptor, or a hooks/ folder to refuse)."""
    root = Path(root)
    if not root.is_dir():
        return []
    return sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
