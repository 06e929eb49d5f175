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

from portal import safe_yaml
from provisioning import terraform

DESCRIPTOR_NAME = "bridge-template.yaml"
MAX_MODULE_BYTES = 256 * 1024
MODULE_SUFFIXES = (".tf", ".tf.json", ".tftpl")
# Variables Bridge fills itself when a module declares them.
BUILTIN_VARIABLES = ("environment_name", "request_id", "owner_team", "namespace")
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

_VARIABLE_RE = re.compile(r'^\s*variable\s+"([A-Za-z_][A-Za-z0-9_-]*)"\s*\{', re.MULTILINE)
_SENSITIVE_RE = re.compile(r"^\s*sensitive\s*=\s*true\s*$", re.MULTILINE)
_PARAM_NAME_RE = re.compile(r"^[a-z][a-z0-9_]{0,39}$")


class TemplateProblem(Exception):
    """The template cannot be published; the message says why."""


def is_secret(prop: dict) -> bool:
    """A secret parameter: JSON Schema ``writeOnly: true`` or ``format: password``."""
    return isinstance(prop, dict) and (prop.get("writeOnly") is True or prop.get("format") == "password")


def secret_names(schema: dict) -> frozenset[str]:
    return frozenset(name for name, prop in (schema.get("properties") or {}).items() if is_secret(prop))


@dataclass
class ParsedTemplate:
    name: str
    source_path: str
    descriptor: dict
    files: dict[str, str]
    digest: str
    notes: list[str] = field(default_factory=list)

    @property
    def parameter_order(self) -> list[str]:
        """The parameters in the descriptor's order (a JSON column may not keep it)."""
        return list(self.descriptor["parameters"]["properties"])

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
    from jsonschema import Draft202012Validator  # imported on use: web workers that never check a template skip it
    from jsonschema.exceptions import SchemaError

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
        if is_secret(prop):
            if prop["type"] != "string":
                raise TemplateProblem(f"parameter {name!r}: a secret (writeOnly or format: password) is a string")
            if "default" in prop or "enum" in prop or "const" in prop:
                raise TemplateProblem(
                    f"parameter {name!r}: a secret has no default, enum or const: its value would be in the descriptor"
                )
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


def _block_body(text: str, start: int) -> str:
    """The text of the ``{...}`` block opening at ``start``, skipping braces in strings and comments."""
    depth, index, quoted = 0, start, False
    while index < len(text):
        char = text[index]
        if quoted:
            if char == "\\":
                index += 1
            elif char == '"':
                quoted = False
        elif char == '"':
            quoted = True
        elif char == "#" or text.startswith("//", index):
            index = text.find("\n", index)
            if index < 0:
                break
        elif char == "{":
            depth += 1
        elif char == "}":
            depth -= 1
            if depth == 0:
                return text[start + 1 : index]
        index += 1
    return text[start + 1 :]


def module_variables(files: dict[str, str]) -> dict[str, dict]:
    """The root module's variables: name → {"sensitive": bool}, from ``.tf`` and ``.tf.json`` files."""
    variables: dict[str, dict] = {}
    for relative, text in files.items():
        if "/" in relative:
            continue
        if relative.endswith(".tf"):
            for match in _VARIABLE_RE.finditer(text):
                body = _block_body(text, match.end() - 1)
                # Only the block's own attributes count: nested blocks (validation) are left out.
                top_level = body
                while (reduced := re.sub(r"\{[^{}]*\}", "", top_level)) != top_level:
                    top_level = reduced
                variables[match.group(1)] = {"sensitive": bool(_SENSITIVE_RE.search(top_level))}
        elif relative.endswith(".tf.json"):
            try:
                declared = json.loads(text).get("variable") or {}
            except (ValueError, AttributeError):
                continue
            if isinstance(declared, dict):
                for name, body in declared.items():
                    variables[name] = {"sensitive": isinstance(body, dict) and body.get("sensitive") is True}
    return variables


def declared_variables(files: dict[str, str]) -> set[str]:
    return set(module_variables(files))


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
        descriptor = safe_yaml.load(descriptor_path.read_text(encoding="utf-8"), name=DESCRIPTOR_NAME)
    except FileNotFoundError:
        raise TemplateProblem(f"no {DESCRIPTOR_NAME} in {directory}")
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise TemplateProblem(f"{DESCRIPTOR_NAME} is not valid YAML: {exc}")
    if not isinstance(descriptor, dict):
        raise TemplateProblem(f"{DESCRIPTOR_NAME} must be a mapping")
    from jsonschema import Draft202012Validator  # imported on use: web workers that never check a template skip it

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
    variables = module_variables(files)
    for name, prop in descriptor["parameters"]["properties"].items():
        if name not in variables:
            raise TemplateProblem(f'parameter {name!r} has no matching variable "{name}" in the module')
        if is_secret(prop) and not variables[name]["sensitive"]:
            raise TemplateProblem(
                f'parameter {name!r} is secret, but variable "{name}" is not: add sensitive = true to it, '
                "so Terraform never prints its value"
            )
        if variables[name]["sensitive"] and not is_secret(prop):
            raise TemplateProblem(
                f'variable "{name}" is sensitive = true, but parameter {name!r} is not secret: add writeOnly: true '
                "to it, so Bridge encrypts it and never shows it"
            )
    kubernetes_section = descriptor.get("kubernetes", {})
    if kubernetes_section:
        check_kubernetes_section(kubernetes_section, descriptor["parameters"])

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


def _sample_values(parameters_schema: dict) -> dict:
    """Stand-in values for a load-time check of the Kubernetes objects: right type, plain text."""
    values: dict = {}
    for name, prop in parameters_schema.get("properties", {}).items():
        kind = prop.get("type")
        if kind == "boolean":
            values[name] = bool(prop.get("default", False))
        elif kind in ("integer", "number"):
            values[name] = prop.get("default", prop.get("minimum", 1))
        else:
            values[name] = "x"
    values.update(environment_name="x", request_id=1, namespace="bridge-x", owner_team="x")
    return values


def check_kubernetes_section(section: dict, parameters_schema: dict) -> None:
    """The objects the section makes, with stand-in values, must be valid Kubernetes objects.

    Names and the literal parts of every object are checked now; values that come from the
    request are checked again, with the real values, when the request is planned.
    """
    from provisioning import kubernetes as kube

    secrets = secret_names(parameters_schema)
    used = kube.placeholders([section.get("quota"), section.get("limits"), section.get("manifests")])
    leaked = sorted(used & secrets)
    if leaked:
        raise TemplateProblem(
            f"kubernetes: secret parameter(s) {', '.join(leaked)} cannot fill Kubernetes objects: Bridge shows and "
            "compares those objects. Have the Terraform module create the Kubernetes Secret instead."
        )
    values = _sample_values(parameters_schema)
    outputs = sorted(name for name in used if name.startswith("outputs."))
    values.update({name: kube.UnknownValue("x") for name in outputs})
    try:
        spec = kube.EnvironmentObjects(
            namespace="bridge-x",
            labels={"bridge.dev/environment": "1"},
            quota=kube.substitute(section.get("quota") or {}, values),
            limits=kube.substitute(section.get("limits") or [], values),
            team_group="x",
            team_role=section.get("role", ""),
            manifests=kube.substitute(section.get("manifests") or [], values),
        )
    except kube.SubstitutionError as exc:
        raise TemplateProblem(f"kubernetes: {exc} (parameters, environment_name, namespace, outputs.<name>)")
    problems = kube.environment_problems(spec)
    if problems:
        raise TemplateProblem("kubernetes: " + "; ".join(problems[:5]))


def template_directories(root: Path) -> list[Path]:
    if not root.is_dir():
        return []
    return sorted(path for path in root.iterdir() if path.is_dir() and (path / DESCRIPTOR_NAME).exists())
