"""Backstage descriptors: references, validation and the relations each kind emits.

Pure functions, no database: ``catalog.services`` reads files, calls
``iter_documents`` and ``validate``, and writes what comes out.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import yaml

from catalog.models import Kind
from portal import safe_yaml

try:  # libyaml is in PyYAML's wheels; it dumps several times faster.
    from yaml import CSafeDumper as _FastDumper
except ImportError:  # pragma: no cover
    from yaml import SafeDumper as _FastDumper

API_VERSIONS = ("backstage.io/v1alpha1", "backstage.io/v1beta1")
TEMPLATE_API_VERSIONS = ("scaffolder.backstage.io/v1beta3",)
"""Backstage's software templates (plugins/scaffolder-common/src/Template.v1beta3.schema.json)."""
DEFAULT_API_VERSION = "backstage.io/v1alpha1"
REMOTE_API_TYPES = ("mcp-server", "ai-model-server")
"""API types that Backstage's model describes by their endpoints (``spec.remotes``), with no ``spec.definition``
(packages/catalog-model/src/schema/kinds/API.v1alpha1.mcp-server.schema.json and .ai-model-server.schema.json)."""
KINDS_BY_LOWER = {k.value.lower(): k.value for k in Kind}

NAME_RE = re.compile(r"^[a-zA-Z0-9]+(?:[-_.][a-zA-Z0-9]+)*$")
NAMESPACE_RE = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
TAG_RE = re.compile(r"^[a-z0-9:+#]+(?:-[a-z0-9:+#]+)*$")

METADATA_FIELDS = ("name", "namespace", "title", "description", "labels", "annotations", "tags", "links")

# field -> (relation type from this entity, reverse type, default kind of the reference)
RELATION_FIELDS: dict[str, dict[str, tuple[str, str, str | None]]] = {
    Kind.COMPONENT: {
        "owner": ("ownedBy", "ownerOf", "group"),
        "system": ("partOf", "hasPart", "system"),
        "subcomponentOf": ("partOf", "hasPart", "component"),
        "providesApis": ("providesApi", "apiProvidedBy", "api"),
        "consumesApis": ("consumesApi", "apiConsumedBy", "api"),
        "dependsOn": ("dependsOn", "dependencyOf", None),
        "dependencyOf": ("dependencyOf", "dependsOn", None),
    },
    Kind.API: {
        "owner": ("ownedBy", "ownerOf", "group"),
        "system": ("partOf", "hasPart", "system"),
    },
    Kind.RESOURCE: {
        "owner": ("ownedBy", "ownerOf", "group"),
        "system": ("partOf", "hasPart", "system"),
        "dependsOn": ("dependsOn", "dependencyOf", None),
        "dependencyOf": ("dependencyOf", "dependsOn", None),
    },
    Kind.SYSTEM: {
        "owner": ("ownedBy", "ownerOf", "group"),
        "domain": ("partOf", "hasPart", "domain"),
    },
    Kind.DOMAIN: {
        "owner": ("ownedBy", "ownerOf", "group"),
        "subdomainOf": ("partOf", "hasPart", "domain"),
    },
    Kind.GROUP: {
        "parent": ("childOf", "parentOf", "group"),
        "children": ("parentOf", "childOf", "group"),
        "members": ("hasMember", "memberOf", "user"),
    },
    Kind.USER: {
        "memberOf": ("memberOf", "hasMember", "group"),
    },
    Kind.LOCATION: {},
    Kind.TEMPLATE: {
        "owner": ("ownedBy", "ownerOf", "group"),
    },
}
LIST_FIELDS = {
    "providesApis",
    "consumesApis",
    "dependsOn",
    "dependencyOf",
    "children",
    "members",
    "memberOf",
    "targets",
}
REQUIRED_SPEC = {
    Kind.COMPONENT: ("type", "lifecycle", "owner"),
    Kind.API: ("type", "lifecycle", "owner"),  # and spec.definition or spec.remotes: see _validate_api_spec
    Kind.RESOURCE: ("type", "owner"),
    Kind.SYSTEM: ("owner",),
    Kind.DOMAIN: ("owner",),
    Kind.GROUP: ("type",),
    Kind.USER: (),
    Kind.LOCATION: (),
    Kind.TEMPLATE: ("type", "steps"),
}
RELATION_TITLES = {
    "ownedBy": "Owned by",
    "ownerOf": "Owns",
    "partOf": "Part of",
    "hasPart": "Has parts",
    "providesApi": "Provides APIs",
    "apiProvidedBy": "Provided by",
    "consumesApi": "Consumes APIs",
    "apiConsumedBy": "Consumed by",
    "dependsOn": "Depends on",
    "dependencyOf": "Dependency of",
    "parentOf": "Child groups",
    "childOf": "Parent group",
    "hasMember": "Members",
    "memberOf": "Member of",
}


@dataclass
class Problem:
    """One thing wrong with the input, said so that its author can fix it."""

    file: str
    document: int | None  # 1-based index of the YAML document in the file
    field: str
    reason: str
    line: int | None = None
    column: int | None = None
    entity: str = ""

    def __str__(self) -> str:
        where = self.file or "input"
        if self.line is not None:
            where += f", line {self.line}, column {self.column}"
        if self.document is not None:
            where += f", document {self.document}"
        what = f" ({self.entity})" if self.entity else ""
        field_part = f" {self.field}:" if self.field else ""
        return f"{where}{what}:{field_part} {self.reason}"

    def as_dict(self) -> dict:
        return {
            "file": self.file,
            "document": self.document,
            "entity": self.entity,
            "field": self.field,
            "reason": self.reason,
            "line": self.line,
            "column": self.column,
        }


class Invalid(Exception):
    def __init__(self, field: str, reason: str):
        super().__init__(reason)
        self.field = field
        self.reason = reason


@dataclass
class Descriptor:
    """A validated entity, ready to be written."""

    kind: str
    namespace: str
    name: str
    api_version: str
    title: str
    description: str
    labels: dict
    annotations: dict
    tags: list
    links: list
    spec: dict
    relations: list[tuple[str, str, str]] = field(default_factory=list)  # (source_ref, type, target_ref)
    owner_ref: str = ""
    system_ref: str = ""

    @property
    def ref_key(self) -> str:
        return ref_key(self.kind, self.namespace, self.name)

    @property
    def spec_type(self) -> str:
        value = self.spec.get("type", "")
        return value if isinstance(value, str) else ""

    @property
    def lifecycle(self) -> str:
        value = self.spec.get("lifecycle", "")
        return value if isinstance(value, str) else ""

    @property
    def tag_text(self) -> str:
        return ("," + ",".join(t.lower() for t in self.tags) + ",") if self.tags else ""

    @property
    def search_text(self) -> str:
        return "\n".join([self.name, self.title, self.description]).lower()

    def to_document(self) -> dict:
        return descriptor_document(
            api_version=self.api_version,
            kind=self.kind,
            namespace=self.namespace,
            name=self.name,
            title=self.title,
            description=self.description,
            labels=self.labels,
            annotations=self.annotations,
            tags=self.tags,
            links=self.links,
            spec=self.spec,
        )


def descriptor_document(
    *, api_version, kind, namespace, name, title, description, labels, annotations, tags, links, spec
) -> dict:
    """The Backstage YAML document of an entity, with empty fields left out."""
    metadata: dict = {"name": name, "namespace": namespace}
    if title:
        metadata["title"] = title
    if description:
        metadata["description"] = description
    for key, value in (("labels", labels), ("annotations", annotations), ("tags", tags), ("links", links)):
        if value:
            metadata[key] = value
    doc = {"apiVersion": api_version, "kind": kind, "metadata": metadata}
    if spec or kind != Kind.LOCATION:
        doc["spec"] = spec
    return doc


def ref_key(kind: str, namespace: str, name: str) -> str:
    return f"{kind.lower()}:{namespace.lower()}/{name.lower()}"


def parse_ref(value, *, default_kind: str | None, default_namespace: str) -> str:
    """``[kind:][namespace/]name`` -> ``kind:namespace/name`` in lower case, or raise ValueError."""
    if isinstance(value, str):
        return _parse_text_ref(value, default_kind, default_namespace)
    return _parse_ref(value, default_kind, default_namespace)


@functools.lru_cache(maxsize=65536)
def _parse_text_ref(value: str, default_kind: str | None, default_namespace: str) -> str:
    """Text references repeat (an import names the same few owners and systems thousands of times)."""
    return _parse_ref(value, default_kind, default_namespace)


def _parse_ref(value, default_kind: str | None, default_namespace: str) -> str:
    if isinstance(value, dict):  # the compound form {kind, namespace, name}
        kind = value.get("kind") or default_kind
        namespace = value.get("namespace") or default_namespace
        name = value.get("name")
    elif isinstance(value, str):
        text = value.strip()
        kind, namespace, name = default_kind, default_namespace, text
        if ":" in text:
            kind, text = text.split(":", 1)
        if "/" in text:
            namespace, text = text.split("/", 1)
        name = text
    else:
        raise ValueError(f"a reference must be a string like 'component:default/name', not {type(value).__name__}")
    if not kind:
        raise ValueError(f"'{value}' needs a kind here, like 'component:{value}'")
    if kind.lower() not in KINDS_BY_LOWER:
        raise ValueError(f"'{value}' has an unknown kind '{kind}'")
    if not isinstance(namespace, str) or not NAMESPACE_RE.match(namespace.lower()) or len(namespace) > 63:
        raise ValueError(f"'{value}' has an invalid namespace")
    if not isinstance(name, str) or not NAME_RE.match(name) or len(name) > 63:
        raise ValueError(f"'{value}' has an invalid name")
    return ref_key(kind, namespace, name)


def format_ref(key: str) -> str:
    """``group:default/team-a`` -> ``group:team-a`` (the short form Backstage writes)."""
    kind, rest = key.split(":", 1)
    namespace, name = rest.split("/", 1)
    return f"{kind}:{name}" if namespace == "default" else key


def _string(value, field_name: str, *, required: bool = False, max_length: int | None = None) -> str:
    if value is None:
        if required:
            raise Invalid(field_name, "is required")
        return ""
    if not isinstance(value, str):
        raise Invalid(field_name, f"must be text, not {type(value).__name__}")
    if required and not value.strip():
        raise Invalid(field_name, "is required")
    if max_length and len(value) > max_length:
        raise Invalid(field_name, f"is longer than {max_length} characters")
    return value


def _string_map(value, field_name: str) -> dict:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise Invalid(field_name, "must be a mapping of names to text")
    for key, item in value.items():
        if not isinstance(key, str) or not isinstance(item, str):
            raise Invalid(f"{field_name}.{key}", "must be text")
    return value


def _nul_at(value) -> list | None:
    """Where in ``value`` a key or a text holds a NUL character (keys and list indexes, outermost
    first); None when nothing does. YAML writes one as ``"\\0"`` or ``"\\u0000"``; PostgreSQL
    cannot store it in text or JSON."""
    if isinstance(value, str):
        return [] if "\x00" in value else None
    if isinstance(value, dict):
        for key, item in value.items():
            if isinstance(key, str) and "\x00" in key:
                return [key]
            found = _nul_at(item)
            if found is not None:
                return [key, *found]
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found = _nul_at(item)
            if found is not None:
                return [index, *found]
    return None


def _field_path(parts: list) -> str:
    path = ""
    for part in parts:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path.replace("\x00", "\\0")


def validate(doc, *, require_api_version: bool = True) -> Descriptor:
    """Check one parsed YAML document; raise ``Invalid(field, reason)`` or return a Descriptor."""
    if not isinstance(doc, dict):
        raise Invalid("", f"a document must be a mapping with apiVersion, kind, metadata and spec, not a {_type(doc)}")
    nul = _nul_at(doc)
    if nul is not None:
        raise Invalid(_field_path(nul), "contains a NUL character (\\0), which no field can hold")
    api_version = doc.get("apiVersion")
    if api_version is None and not require_api_version:
        api_version = DEFAULT_API_VERSION
    if not isinstance(api_version, str) or not api_version.strip():
        raise Invalid("apiVersion", "is required (backstage.io/v1alpha1)")
    raw_kind = doc.get("kind")
    if not isinstance(raw_kind, str) or not raw_kind.strip():
        raise Invalid("kind", "is required")
    kind = KINDS_BY_LOWER.get(raw_kind.lower())
    if kind is None:
        raise Invalid("kind", f"unknown kind '{raw_kind}'; known kinds: {', '.join(k.value for k in Kind)}")
    accepted = TEMPLATE_API_VERSIONS if kind == Kind.TEMPLATE else API_VERSIONS
    if api_version not in accepted:
        raise Invalid("apiVersion", f"'{api_version}' is not one of {', '.join(accepted)} (for a {kind})")
    metadata = doc.get("metadata")
    if not isinstance(metadata, dict):
        raise Invalid("metadata", "is required and must be a mapping")
    name = metadata.get("name")
    if not isinstance(name, str) or not name:
        raise Invalid("metadata.name", "is required")
    if len(name) > 63 or not NAME_RE.match(name):
        raise Invalid(
            "metadata.name",
            f"'{name}' is not a valid name: 1 to 63 letters or digits, separated by '-', '_' or '.'",
        )
    namespace = metadata.get("namespace", "default")
    if namespace is None:
        namespace = "default"
    if not isinstance(namespace, str) or len(namespace) > 63 or not NAMESPACE_RE.match(namespace):
        raise Invalid("metadata.namespace", f"'{namespace}' is not a valid namespace: lower-case letters, digits, '-'")
    title = _string(metadata.get("title"), "metadata.title", max_length=200)
    description = _string(metadata.get("description"), "metadata.description")
    labels = _string_map(metadata.get("labels"), "metadata.labels")
    annotations = _string_map(metadata.get("annotations"), "metadata.annotations")
    tags = metadata.get("tags") or []
    if not isinstance(tags, list):
        raise Invalid("metadata.tags", "must be a list")
    for tag in tags:
        if not isinstance(tag, str) or len(tag) > 63 or not TAG_RE.match(tag):
            raise Invalid("metadata.tags", f"'{tag}' is not a valid tag: lower-case letters, digits, ':+#', and '-'")
    links = metadata.get("links") or []
    if not isinstance(links, list):
        raise Invalid("metadata.links", "must be a list")
    for index, link in enumerate(links):
        if not isinstance(link, dict) or not isinstance(link.get("url"), str) or not link.get("url"):
            raise Invalid(f"metadata.links[{index}]", "needs a url")
        for key in ("title", "icon", "type"):
            if key in link and not isinstance(link[key], str):
                raise Invalid(f"metadata.links[{index}].{key}", "must be text")
    spec = doc.get("spec")
    if spec is None:
        spec = {}
    if not isinstance(spec, dict):
        raise Invalid("spec", "must be a mapping")
    for key in REQUIRED_SPEC[kind]:
        value = spec.get(key)
        if value is None or value == "":
            raise Invalid(f"spec.{key}", f"is required for a {kind}")
    for key in ("type", "lifecycle"):
        if key in spec and not isinstance(spec[key], str):
            raise Invalid(f"spec.{key}", "must be text")
    if kind == Kind.API:
        _validate_api_spec(spec)
    if kind == Kind.TEMPLATE:
        _validate_template_spec(spec)
    if kind == Kind.LOCATION:
        if not spec.get("target") and not spec.get("targets"):
            raise Invalid("spec.target", "a Location needs a target or targets")
        if "target" in spec and not isinstance(spec["target"], str):
            raise Invalid("spec.target", "must be text")
    for key in LIST_FIELDS:
        if key in spec and spec[key] is not None:
            if not isinstance(spec[key], list):
                raise Invalid(f"spec.{key}", "must be a list")
            if key == "targets" and not all(isinstance(t, str) for t in spec[key]):
                raise Invalid("spec.targets", "must be a list of text")

    own = ref_key(kind, namespace, name)
    relations: list[tuple[str, str, str]] = []
    owner_ref = system_ref = ""
    for key, (rel, reverse, default_kind) in RELATION_FIELDS[kind].items():
        value = spec.get(key)
        if value is None or value == "" or value == []:
            continue
        for index, item in enumerate(value if key in LIST_FIELDS else [value]):
            field_name = f"spec.{key}[{index}]" if key in LIST_FIELDS else f"spec.{key}"
            try:
                target = parse_ref(item, default_kind=default_kind, default_namespace=namespace)
            except ValueError as exc:
                raise Invalid(field_name, str(exc))
            relations.append((own, rel, target))
            relations.append((target, reverse, own))
            if key == "owner":
                owner_ref = target
            elif key == "system":
                system_ref = target
    return Descriptor(
        kind=kind,
        namespace=namespace,
        name=name,
        api_version=api_version,
        title=title,
        description=description,
        labels=labels,
        annotations=annotations,
        tags=tags,
        links=links,
        spec=spec,
        relations=list(dict.fromkeys(relations)),
        owner_ref=owner_ref,
        system_ref=system_ref,
    )


def _validate_api_spec(spec: dict) -> None:
    """An API has a definition (text), or, for MCP and AI model servers, endpoints (``remotes``)."""
    api_type = spec.get("type", "")
    if api_type in REMOTE_API_TYPES:
        remotes = spec.get("remotes")
        if remotes is None and api_type == "mcp-server":
            raise Invalid("spec.remotes", "is required for an mcp-server API: a list of {type, url}")
        if remotes is not None:
            if not isinstance(remotes, list) or (api_type == "mcp-server" and not remotes):
                raise Invalid("spec.remotes", "must be a list of {type, url}")
            for index, remote in enumerate(remotes):
                if not isinstance(remote, dict):
                    raise Invalid(f"spec.remotes[{index}]", "must be a mapping with type and url")
                for key in ("type", "url"):
                    if not isinstance(remote.get(key), str) or not remote[key]:
                        raise Invalid(f"spec.remotes[{index}].{key}", "is required and must be text")
        if "definition" in spec and not isinstance(spec["definition"], str):
            raise Invalid("spec.definition", "must be text (use $text to read it from a file)")
        return
    if spec.get("definition") is None or spec.get("definition") == "":
        raise Invalid("spec.definition", "is required for an API (or, for an mcp-server, spec.remotes)")
    if not isinstance(spec.get("definition"), str):
        raise Invalid("spec.definition", "must be text (use $text to read it from a file)")


def _validate_template_spec(spec: dict) -> None:
    """Backstage's Template v1beta3: ``steps`` is a list of actions; ``parameters`` a form or a list of forms."""
    steps = spec.get("steps")
    if not isinstance(steps, list):
        raise Invalid("spec.steps", "must be a list of steps")
    for index, step in enumerate(steps):
        if not isinstance(step, dict) or not isinstance(step.get("action"), str):
            raise Invalid(f"spec.steps[{index}]", "must be a mapping with an action")
    parameters = spec.get("parameters")
    if parameters is not None:
        forms = parameters if isinstance(parameters, list) else [parameters]
        if not all(isinstance(form, dict) for form in forms):
            raise Invalid("spec.parameters", "must be a JSON Schema (a mapping) or a list of them")
    if "owner" in spec and not isinstance(spec["owner"], str):
        raise Invalid("spec.owner", "must be text")


def _type(value) -> str:
    return {list: "list", str: "text", int: "number", float: "number", bool: "boolean"}.get(type(value), "value")


# A bare document separator; one with content after it (--- {a: 1}) sends the text the slower way.
_SEPARATOR = re.compile(r"^---[ \t]*$", re.MULTILINE)


DOCUMENT_BATCH = 1000


def _fast_batch(parts: list[str], *, separated: bool) -> list | None:
    """Parse some consecutive documents with yaml-rs (a YAML 1.2 parser in Rust, ~8x faster than PyYAML).

    Its ``loads`` returns one value for a one-document stream and a list for
    several, so a list is accepted only when it is unambiguous: every document a
    mapping (or empty) and as many as there are parts. Anything else goes the
    slower PyYAML way, which also tells where a syntax error is.
    """
    text = "".join(("---" if separated or i else "") + part for i, part in enumerate(parts))
    try:
        value = safe_yaml.fast_loads(text)
    except ValueError:  # any refusal (an alias among them): PyYAML decides and explains
        return None
    if value is None:
        return [None] * len(parts)
    if isinstance(value, dict):
        return [value] if len(parts) == 1 else None
    if not isinstance(value, list) or len(value) != len(parts) or len(parts) == 1:
        return None
    return value if all(d is None or isinstance(d, dict) for d in value) else None


class _Unchanged:
    def __repr__(self) -> str:
        return "UNCHANGED"


UNCHANGED = _Unchanged()
"""Yielded by ``iter_documents`` instead of the data of a document its ``skip`` recognised (not parsed)."""


def iter_documents(
    text: str, *, file: str, problems: list[Problem], skip: Callable[[str], bool] | None = None
) -> Iterator[tuple[int, object, str]]:
    """The documents of a multi-document YAML text as (number from 1, data, its raw text), lazily.

    Documents are parsed a batch at a time, so a file of 10,000 entities never
    exists as 10,000 dicts at once. YAML aliases are refused (see ``portal.safe_yaml``).
    A syntax error stops there, with a problem (added to ``problems``) saying where.

    ``skip(raw text)``: documents it says are known already (an import's unchanged ones, by
    fingerprint) are not parsed; they come as ``UNCHANGED``. Only the fast path skips: text that
    goes the PyYAML way is parsed whole, as before.
    """
    done = 0
    if safe_yaml.yaml_rs is not None:
        parts = _SEPARATOR.split(text)
        starts_with_separator = bool(_SEPARATOR.match(text.lstrip("\ufeff")))
        if starts_with_separator:
            parts = parts[1:]  # what comes before the first --- is not a document
        for first in range(0, len(parts), DOCUMENT_BATCH):
            batch = parts[first : first + DOCUMENT_BATCH]
            wanted = [i for i, part in enumerate(batch) if skip is None or not skip(part)]
            values: list | None = []
            if wanted:
                separated = starts_with_separator or first + wanted[0] > 0
                values = _fast_batch([batch[i] for i in wanted], separated=separated)
            if values is None:
                break
            docs = dict(zip(wanted, values, strict=True))
            for offset, part in enumerate(batch):
                done = first + offset + 1
                doc = docs.get(offset, UNCHANGED)
                if doc is not None:
                    yield done, doc, part
        else:
            return
    index = 0
    inside = False  # the error is in document ``index`` (True) or in the next one
    loader = safe_yaml.Loader(text, file)
    try:
        while loader.check_node():
            index, inside = index + 1, True
            node = loader.get_node()
            if index > done:
                doc = loader.construct_document(node)
                if doc is not None:
                    yield index, doc, text[node.start_mark.index : node.end_mark.index]
            inside = False
    except yaml.YAMLError as exc:
        line, column, message = safe_yaml.error_position(exc)
        refused = "refused" if isinstance(exc, safe_yaml.UnsafeYAML) else "invalid YAML"
        problems.append(
            Problem(
                file=file,
                document=index if inside else index + 1,
                field="",
                reason=f"{refused}: {message}",
                line=line,
                column=column,
            )
        )
    finally:
        loader.dispose()


def _represent_str(dumper, value: str):
    """Multi-line text as a block literal (``|``), as people write definitions; the rest as usual.

    The emitter still picks another style where a literal cannot say the text exactly
    (trailing spaces on a line, control characters), so what is read back is always the same.
    """
    if "\n" in value:
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style="|")
    return dumper.represent_str(value)


class SafeDumper(_FastDumper):
    """The catalog's YAML writer: block literals for multi-line text, Unicode kept as it is."""


class _UnicodeDumper(yaml.SafeDumper):
    """PyYAML's own emitter: libyaml writes characters beyond U+FFFF (emoji) as ``\\U0001F303``."""


SafeDumper.add_representer(str, _represent_str)
_UnicodeDumper.add_representer(str, _represent_str)

_DUMP_OPTIONS = {"sort_keys": False, "allow_unicode": True, "default_flow_style": False}


def _beyond_bmp(text: str) -> bool:
    return any(ord(ch) > 0xFFFF for ch in text)


def dump_yaml(document: dict) -> str:
    """One descriptor as YAML that reads like its author wrote it (the YAML tab, the export).

    libyaml (fast) writes it unless a string holds a character beyond the Basic Multilingual
    Plane, which libyaml escapes; those rare documents go through PyYAML's Python emitter.
    """
    text = yaml.dump(document, Dumper=SafeDumper, **_DUMP_OPTIONS)
    if "\\U" in text and _beyond_bmp(_strings_of(document)):
        text = yaml.dump(document, Dumper=_UnicodeDumper, **_DUMP_OPTIONS)
    return text


def _strings_of(value) -> str:
    """All the text in a document, joined (to look for characters libyaml would escape)."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        return "".join(_strings_of(k) + _strings_of(v) for k, v in value.items())
    if isinstance(value, list):
        return "".join(_strings_of(v) for v in value)
    return ""


def dump_documents(documents: list[dict]) -> str:
    return "".join("---\n" + dump_yaml(document) for document in documents)
