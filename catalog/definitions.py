"""An API entity's definition, made readable: OpenAPI for Swagger UI, other formats highlighted.

Pure functions, no database. The Definition tab calls ``read_definition`` and renders what
comes back: an OpenAPI document goes to Swagger UI (served from ``drf-spectacular-sidecar``'s
static files, never a CDN) as JSON; AsyncAPI, GraphQL, gRPC and anything else are shown as
source, highlighted by Pygments (which escapes everything it writes). MCP and AI model servers
have no definition in Backstage's model, only ``remotes``: their endpoints are listed instead.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import yaml
from pygments import highlight
from pygments.formatters import HtmlFormatter
from pygments.lexers import get_lexer_by_name
from pygments.util import ClassNotFound

from portal import safe_yaml

OPENAPI_TYPES = ("openapi", "swagger")
REMOTE_TYPES = ("mcp-server", "ai-model-server")
"""API types whose Backstage schema asks for ``spec.remotes`` (endpoints) instead of ``spec.definition``."""

LANGUAGES = {"asyncapi": "yaml", "graphql": "graphql", "grpc": "protobuf", "openapi": "yaml", "swagger": "yaml"}
LANGUAGE_TITLES = {"yaml": "YAML", "json": "JSON", "graphql": "GraphQL", "protobuf": "Protocol Buffers", "text": "text"}

HIGHLIGHT_LIMIT = 512 * 1024
"""Larger definitions are shown as plain (escaped) text: highlighting megabytes costs seconds."""


@dataclass
class Definition:
    """What the Definition tab shows."""

    api_type: str
    source: str = ""
    language: str = "text"
    highlighted: str = ""  # safe HTML from Pygments, or "" (then ``source`` is shown escaped)
    openapi: dict | None = None  # the parsed OpenAPI document, for Swagger UI
    problem: str = ""  # why the definition is shown as source although its type has a viewer
    remotes: list[dict] = field(default_factory=list)

    @property
    def language_title(self) -> str:
        return LANGUAGE_TITLES.get(self.language, self.language)


def read_definition(spec: dict, *, name: str) -> Definition:
    """The definition of an API entity's ``spec``; ``name`` appears in messages (the entity's reference)."""
    api_type = spec.get("type") if isinstance(spec.get("type"), str) else ""
    lowered = api_type.lower()
    remotes = (
        [r for r in spec.get("remotes") or [] if isinstance(r, dict)] if isinstance(spec.get("remotes"), list) else []
    )
    source = spec.get("definition") if isinstance(spec.get("definition"), str) else ""
    result = Definition(api_type=api_type, source=source, remotes=remotes)
    if not source:
        return result
    result.language = _language(lowered, source)
    if lowered in OPENAPI_TYPES:
        result.openapi, result.problem = _openapi(source, name=name)
    if len(source) <= HIGHLIGHT_LIMIT:
        result.highlighted = highlight(source, _lexer(result.language), HtmlFormatter(cssclass="highlight"))
    return result


def _language(api_type: str, source: str) -> str:
    language = LANGUAGES.get(api_type, "text")
    if language == "yaml" and source.lstrip().startswith(("{", "[")):
        return "json"  # OpenAPI and AsyncAPI are written in JSON too
    return language


def _lexer(language: str):
    try:
        return get_lexer_by_name(language)
    except ClassNotFound:  # pragma: no cover - every language above exists in Pygments
        return get_lexer_by_name("text")


def _openapi(source: str, *, name: str) -> tuple[dict | None, str]:
    """The OpenAPI document (JSON is YAML, so one reader does both), or why it cannot be shown."""
    try:
        document = safe_yaml.load(source, name=f"{name} spec.definition")
    except yaml.YAMLError as exc:
        line, _column, message = safe_yaml.error_position(exc)
        where = f" (line {line})" if line is not None else ""
        return None, f"The definition cannot be read as YAML or JSON{where}, so it is shown as text: {message}"
    if not isinstance(document, dict) or not ("openapi" in document or "swagger" in document):
        return None, "The definition is not an OpenAPI document (it has no openapi or swagger field): shown as text."
    return document, ""


def template_forms(spec: dict) -> list[dict]:
    """A Backstage Template's parameter forms, for reading: each with its title and fields.

    ``spec.parameters`` is one JSON Schema or a list of them (one per page of the form).
    Anything unexpected in it is skipped, not an error: the page only shows what the template asks.
    """
    parameters = spec.get("parameters")
    forms = parameters if isinstance(parameters, list) else [parameters] if isinstance(parameters, dict) else []
    result = []
    for form in forms:
        if not isinstance(form, dict):
            continue
        required = form.get("required") if isinstance(form.get("required"), list) else []
        properties = form.get("properties") if isinstance(form.get("properties"), dict) else {}
        fields = []
        for name, schema in properties.items():
            schema = schema if isinstance(schema, dict) else {}
            fields.append(
                {
                    "name": str(name),
                    "title": _text(schema.get("title")),
                    "type": _text(schema.get("type")),
                    "description": _text(schema.get("description")),
                    "required": name in required,
                }
            )
        result.append({"title": _text(form.get("title")), "fields": fields})
    return result


def _text(value) -> str:
    return value if isinstance(value, str) else ""
