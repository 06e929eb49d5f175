"""Reading and validating template directories (``bridge-template.yaml`` + a Terraform module).

Nothing here writes to the database: ``services.templates_reload`` publishes
what ``read_template`` accepted. A template that fails any check comes back as
a ``TemplateProblem`` with the reason, and its working version stays in place.
"""

from __future__ import annotations

import hashlib
import json
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError

from provisioning import terraform

DESCRIPTOR_NAME = "bridge-template.yaml"
MAX_MODULE_BYTES = 256 * 1024
MODULE_SUFFIXES = (".tf", ".tf.json", ".tftpl")
# Variables Bridge fills itself when a module declares them.
BUILTIN_VARIABLES = ("environment_name", "request_id", "owner_team")
PARAMETER_TYPES = {"string", "integer", "number", "boolean"}
UI_WIDGETS = {"text", "textarea", "select", "radio", "checkbox", "number"}

DESCRIPTOR_SCHEMA = {
    "type": "object",
    "additionalProperties": False,
    "required": ["name", "title", "environmentType", "parameters", "approval", "ttl"],
    "properties": {
        "apiVersion": {"const": "bridge/v1"},
        "name": {"type": "string", "pattern": "^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$"},
        "title": {"type": "string", "minLength": 1, "maxLength": 200},
        "description": {"type": "string", "maxLength": 5000},
        "owner": {"type": "string", "pattern": "^(group:)?([a-z0-9-_.]+/)?[A-Za-z0-9-_.]+$"},
        "environmentType": {"type": "string", "pattern": "^[a-z][a-z0-9-]{0,39}$"},
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
        "ttl": {
            "type": "object",
            "additionalProperties": False,
            "required": ["defaultHours", "maxHours"],
            "properties": {
                "defaultHours": {"type": "integer", "minimum": 1, "maximum": 8760},
                "maxHours": {"type": "integer", "minimum": 1, "maximum": 8760},
            },
        },
        "kubernetes": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "clusters": {"type": "array", "items": {"type": "string", "minLength": 1}},
                "namespacePrefix": {"type": "string", "pattern": "^[a-z0-9-]{0,30}$"},
                "role": {"type": "string", "minLength": 1, "maxLength": 200},
                "quota": {"type": "object", "additionalProperties": {"type": "string"}},
                "limits": {"type": "array", "items": {"type": "object"}},
                "manifests": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["apiVersion", "kind", "metadata"],
                        "properties": {"kind": {"type": "string"}, "metadata": {"type": "object"}},
                    },
                },
            },
        },
        "module": {"type": "string", "minLength": 1},
    },
}

_VARIABLE_RE = re.compile(r'^\s*variable\s+"([A-Za-z_][A-Za-z0-9_-]*)"', re.MULTILINE)
_PARAM_NAME_RE = re.compile(r"^[a-z][a-z0-9_]{0,39}$")


class TemplateProblem(Exception):
    """The template cannot be published; the message says why."""


@dataclass
class ParsedTemplate:
    name: str
    source_path: str
    descriptor: dict
    files: dict[str, str]
    digest: str
    notes: list[str] = field(default_factory=list)

    @property
    def approval(self) -> dict:
        approval = dict(self.descriptor["approval"])
        approval.setdefault("group", "Approvers")
        approval["count"] = approval.get("count", 2 if approval["policy"] == "distinct" else 1)
        if approval["policy"] != "distinct":
            approval["count"] = 1
        return approval


def _error_path(error) -> str:
    return "/".join(str(part) for part in error.absolute_path) or "(top level)"


def validate_parameters_schema(schema: dict) -> None:
    """The parameters must be a flat object of strings, integers, numbers and booleans."""
    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError as exc:
        raise TemplateProblem(f"parameters are not a valid JSON Schema at {_error_path(exc)}: {exc.message}")
    if schema.get("type") != "object" or not isinstance(schema.get("properties"), dict):
        raise TemplateProblem("parameters must be a JSON Schema of type object with properties")
    properties = schema["properties"]
    for name, prop in properties.items():
        if not _PARAM_NAME_RE.match(name):
            raise TemplateProblem(
                f"parameter {name!r}: names are lower case letters, digits and _ (a Terraform variable name)"
            )
        if name in BUILTIN_VARIABLES:
            raise TemplateProblem(f"parameter {name!r}: the name is reserved; Bridge fills it itself")
        if not isinstance(prop, dict) or prop.get("type") not in PARAMETER_TYPES:
            raise TemplateProblem(f"parameter {name!r}: type must be one of {', '.join(sorted(PARAMETER_TYPES))}")
        ui = prop.get("x-ui", {})
        if not isinstance(ui, dict) or (ui.get("widget") and ui["widget"] not in UI_WIDGETS):
            raise TemplateProblem(f"parameter {name!r}: x-ui.widget must be one of {', '.join(sorted(UI_WIDGETS))}")
        if "default" in prop:
            errors = list(Draft202012Validator(prop).iter_errors(prop["default"]))
            if errors:
                raise TemplateProblem(f"parameter {name!r}: its default is invalid: {errors[0].message}")
    for name in schema.get("required", []):
        if name not in properties:
            raise TemplateProblem(f"parameters: required parameter {name!r} is not defined")


def _read_module(module_dir: Path) -> dict[str, str]:
    if not module_dir.is_dir():
        raise TemplateProblem(f"module directory {module_dir} does not exist")
    files: dict[str, str] = {}
    total = 0
    for path in sorted(module_dir.rglob("*")):
        relative = path.relative_to(module_dir)
        if ".terraform" in relative.parts or path.name.startswith("terraform.tfstate") or not path.is_file():
            continue
        if not path.name.endswith(MODULE_SUFFIXES):
            continue
        total += path.stat().st_size
        if total > MAX_MODULE_BYTES:
            raise TemplateProblem(f"the module is larger than {MAX_MODULE_BYTES // 1024} KiB")
        try:
            files[relative.as_posix()] = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            raise TemplateProblem(f"module file {relative} is not UTF-8 text")
    if not any(name.endswith((".tf", ".tf.json")) for name in files):
        raise TemplateProblem("the module has no .tf file")
    return files


def declared_variables(files: dict[str, str]) -> set[str]:
    names: set[str] = set()
    for relative, text in files.items():
        if relative.endswith(".tf") and "/" not in relative:
            names.update(_VARIABLE_RE.findall(text))
    return names


_SENSITIVE_RE = re.compile(r"^\s*sensitive\s*=\s*true\b", re.MULTILINE)


def sensitive_variables(files: dict[str, str]) -> set[str]:
    """Root-module variables marked ``sensitive = true``: their values are secrets."""
    names: set[str] = set()
    for relative, text in files.items():
        if not (relative.endswith(".tf") and "/" not in relative):
            continue
        for match in _VARIABLE_RE.finditer(text):
            body = _block_body(text, match.end())
            if _SENSITIVE_RE.search(_top_level(body)):
                names.add(match.group(1))
    return names


def _block_body(text: str, start: int) -> str:
    """The text between the ``{`` after ``start`` and its matching ``}`` (strings respected)."""
    opening = text.find("{", start)
    if opening < 0:
        return ""
    depth, index, quoted = 0, opening, False
    while index < len(text):
        char = text[index]
        if quoted:
            if char == "\\":
                index += 1
            elif char == '"':
                quoted = False
        elif char == '"':
            quoted = True
        elif char == "{":
            depth += 1
        elif char == "}":
            depth -= 1
            if depth == 0:
                return text[opening + 1 : index]
        index += 1
    return text[opening + 1 :]


def _top_level(body: str) -> str:
    """The lines of a block body outside its nested blocks (a validation block may mention sensitive)."""
    kept, depth = [], 0
    for line in body.splitlines():
        if depth == 0:
            kept.append(line)
        depth += line.count("{") - line.count("}")
    return "\n".join(kept)


# Modules already found valid in this process, by content digest: reloading unchanged
# templates does not run Terraform again.
_valid_modules: set[str] = set()


def validate_module(files: dict[str, str]) -> str | None:
    """``terraform init -backend=false`` and ``validate`` in a scratch directory; None when valid.

    Returns a note (not an error) when no Terraform binary is available.
    """
    binary = terraform.find_binary()
    if binary is None:
        return "module not validated: no Terraform binary"
    digest = hashlib.sha256(json.dumps([str(binary), files], sort_keys=True).encode()).hexdigest()
    if digest in _valid_modules:
        return None
    _validate_with_terraform(binary, files)
    _valid_modules.add(digest)
    return None


def _validate_with_terraform(binary: Path, files: dict[str, str]) -> None:
    with tempfile.TemporaryDirectory(prefix="bridge-validate-") as scratch:
        workdir = Path(scratch)
        terraform.prepare_working_dir(workdir, files, {})
        lines: list[str] = []
        controller = terraform.Controller()
        code, _ = terraform.execute(
            terraform.command(binary, workdir, "init", input=False, backend=False, no_color=terraform.FLAG),
            working_dir=workdir,
            on_line=lines.append,
            controller=controller,
            timeout=120,
        )
        if code != 0:
            raise TemplateProblem("terraform init failed: " + " ".join(line for line in lines if line.strip())[-800:])
        code, out = terraform.execute(
            terraform.command(binary, workdir, "validate", json=terraform.FLAG, no_color=terraform.FLAG),
            working_dir=workdir,
            on_line=lines.append,
            controller=controller,
            capture=True,
            timeout=120,
        )
        try:
            result = json.loads(out or "{}")
        except ValueError:
            result = {}
        if code != 0 or not result.get("valid", False):
            messages = [
                f"{d.get('summary', '')}: {d.get('detail', '')}".strip(": ")
                for d in result.get("diagnostics", [])
                if d.get("severity") == "error"
            ]
            raise TemplateProblem("terraform validate: " + ("; ".join(messages) or "the module is invalid"))


def read_template(directory: Path) -> ParsedTemplate:
    """Read, parse and validate one template directory. Raises ``TemplateProblem``."""
    descriptor_path = directory / DESCRIPTOR_NAME
    try:
        descriptor = yaml.safe_load(descriptor_path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise TemplateProblem(f"no {DESCRIPTOR_NAME} in {directory}")
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise TemplateProblem(f"{DESCRIPTOR_NAME} is not valid YAML: {exc}")
    if not isinstance(descriptor, dict):
        raise TemplateProblem(f"{DESCRIPTOR_NAME} must be a mapping")
    errors = sorted(Draft202012Validator(DESCRIPTOR_SCHEMA).iter_errors(descriptor), key=lambda e: e.path)
    if errors:
        raise TemplateProblem(f"{DESCRIPTOR_NAME} at {_error_path(errors[0])}: {errors[0].message}")
    validate_parameters_schema(descriptor["parameters"])
    ttl = descriptor["ttl"]
    if ttl["defaultHours"] > ttl["maxHours"]:
        raise TemplateProblem("ttl: defaultHours is greater than maxHours")
    for index, manifest in enumerate(descriptor.get("kubernetes", {}).get("manifests", [])):
        from provisioning.kubernetes import SUPPORTED_MANIFEST_KINDS

        if manifest["kind"] not in SUPPORTED_MANIFEST_KINDS:
            raise TemplateProblem(
                f"kubernetes.manifests[{index}]: {manifest['kind']} is not a kind Bridge applies "
                f"(supported: {', '.join(SUPPORTED_MANIFEST_KINDS)})"
            )
    approval = descriptor["approval"]
    if approval["policy"] == "distinct" and approval.get("count", 2) < 2:
        raise TemplateProblem("approval: the distinct policy needs a count of at least 2")

    module_dir = (directory / descriptor.get("module", ".")).resolve()
    if directory.resolve() != module_dir and directory.resolve() not in module_dir.parents:
        raise TemplateProblem("module must be inside the template directory")
    files = _read_module(module_dir)
    declared = declared_variables(files)
    for name in descriptor["parameters"]["properties"]:
        if name not in declared:
            raise TemplateProblem(f'parameter {name!r} has no matching variable "{name}" in the module')

    notes = []
    note = validate_module(files)
    if note:
        notes.append(note)
    canonical = json.dumps({"descriptor": descriptor, "files": files}, sort_keys=True).encode()
    return ParsedTemplate(
        name=descriptor["name"],
        source_path=str(directory),
        descriptor=descriptor,
        files=files,
        digest=hashlib.sha256(canonical).hexdigest(),
        notes=notes,
    )


def template_directories(root: Path) -> list[Path]:
    if not root.is_dir():
        return []
    return sorted(path for path in root.iterdir() if path.is_dir() and (path / DESCRIPTOR_NAME).exists())
