"""Template parameters: what a requester may send, and what reaches Terraform.

Only the parameters a template declares are accepted, whatever its schema says
about ``additionalProperties``: an undeclared key could set a module variable the
form never offered (a firewall range, backups off). Values are bounded in size,
and a NUL character (which PostgreSQL cannot store) is refused like any other
invalid value.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field

from django.views.decorators.debug import sensitive_variables

from portal import crypto
from portal.services import ServiceError
from provisioning import library
from provisioning.models import EnvironmentRequest

# Any one text value, whatever the schema allows; all values together, as JSON.
MAX_VALUE_CHARS = 4096
MAX_PARAMETERS_BYTES = 32 * 1024
# Whole numbers beyond this are refused (Terraform reads numbers as floats).
MAX_WHOLE_NUMBER = 2**53
# How a secret's value is shown: everywhere, always, whatever its length.
SECRET_MASK = "••••"  # noqa: S105  # nosec B105: a mask, not a password


def _shown_name(name: object) -> str:
    text = str(name).replace("\x00", "\\0")
    return repr(text if len(text) <= 40 else text[:40] + "…")


def _has_nul(value: object) -> bool:
    return isinstance(value, str) and "\x00" in value


def _value_problem(value: object) -> str | None:
    """What is wrong with a value whatever its parameter's schema, or None."""
    if _has_nul(value):
        return "Remove the NUL character: no field accepts one."
    if isinstance(value, str) and len(value) > MAX_VALUE_CHARS:
        return f"Keep it under {MAX_VALUE_CHARS:,} characters."
    if isinstance(value, float) and not math.isfinite(value):
        return "Enter a finite number."
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > MAX_WHOLE_NUMBER:
        return f"Enter a number between -{MAX_WHOLE_NUMBER:,} and {MAX_WHOLE_NUMBER:,}."
    if isinstance(value, dict | list):
        return "Enter a single value, not a list or an object."
    return None


def _message(error, prop: dict, *, secret: bool) -> str:
    """The message for one schema error; a secret's value is never repeated in it."""
    if error.validator == "pattern":
        return prop.get("x-ui", {}).get("patternMessage") or (
            "It does not have the expected form." if secret else f"Must match the pattern {error.validator_value}."
        )
    if error.validator == "enum":
        return "Choose one of: " + ", ".join(str(v) for v in error.validator_value) + "."
    if not secret:
        return error.message[:300]
    return {
        "minLength": f"Use at least {error.validator_value} characters.",
        "maxLength": f"Use at most {error.validator_value} characters.",
        "type": "Enter text.",
    }.get(error.validator, "This value is not accepted.")


def _with_defaults(schema: dict, parameters: dict) -> dict:
    filled = dict(parameters)
    for name, prop in schema.get("properties", {}).items():
        if name not in filled and "default" in prop:
            filled[name] = prop["default"]
    return filled


def parameters_check(schema: dict, parameters: object) -> tuple[dict, dict[str, list[str]]]:
    """(the declared parameters with defaults filled in, errors by field).

    Errors name each undeclared key under ``parameters``, and every bad value under
    its own parameter's name, all in one pass.
    """
    if not isinstance(parameters, dict):
        return {}, {"parameters": ["Parameters must be an object of names and values."]}
    properties = schema.get("properties", {})
    secrets = library.secret_names(schema)
    errors: dict[str, list[str]] = {}
    unknown = [name for name in parameters if name not in properties]
    if unknown:
        offered = ", ".join(properties) or "none"
        errors["parameters"] = [
            f"This template has no parameter {', '.join(_shown_name(n) for n in unknown[:10])}"
            + (f" (and {len(unknown) - 10} more)" if len(unknown) > 10 else "")
            + f". It takes: {offered}."
        ]
    declared = {name: value for name, value in parameters.items() if name in properties}
    for name, value in declared.items():
        problem = _value_problem(value)
        if problem:
            errors.setdefault(name, []).append(problem)
    if not errors and len(json.dumps(declared, ensure_ascii=False).encode()) > MAX_PARAMETERS_BYTES:
        errors["parameters"] = [f"The parameters add up to more than {MAX_PARAMETERS_BYTES // 1024} KiB."]
    # The schema checks the rest, so that every mistake shows at once.
    filled = _with_defaults(schema, {name: value for name, value in declared.items() if name not in errors})
    from jsonschema import Draft202012Validator  # imported on use: web workers that never check a template skip it

    for error in Draft202012Validator(schema).iter_errors(filled):
        if error.validator == "required":
            field = error.message.split("'")[1] if "'" in error.message else "parameters"
            if field not in errors:
                errors.setdefault(field, []).append("This field is required.")
            continue
        if error.validator == "additionalProperties":
            continue  # undeclared keys were refused above, by name
        field = str(error.absolute_path[0]) if error.absolute_path else "parameters"
        prop = properties.get(field, {})
        errors.setdefault(field, []).append(_message(error, prop, secret=field in secrets))
    return filled, errors


# --- secrets -------------------------------------------------------------------------------

ENCRYPTION_PURPOSE = "provisioning"


class SecretsUnreadable(ServiceError):
    """The request's secret parameters cannot be decrypted (the encryption key changed)."""


def split_secrets(schema: dict, parameters: dict) -> tuple[dict, str]:
    """(the parameters with every secret value replaced by the mask, the secrets encrypted or "")."""
    secrets = library.secret_names(schema)
    shown = {name: (SECRET_MASK if name in secrets else value) for name, value in parameters.items()}
    hidden = {name: value for name, value in parameters.items() if name in secrets}
    token = crypto.encrypt(json.dumps(hidden), purpose=ENCRYPTION_PURPOSE) if hidden else ""
    return shown, token


def request_secrets(request: EnvironmentRequest) -> dict[str, str]:
    """The request's secret parameters in clear; raises ``SecretsUnreadable`` when the key changed."""
    if not request.secret_parameters:
        return {}
    clear = crypto.decrypt(request.secret_parameters, purpose=ENCRYPTION_PURPOSE)
    if clear is None:
        raise SecretsUnreadable(
            "The secret parameters of this request cannot be decrypted: the portal's encryption key "
            "(PORTAL_ENCRYPTION_KEY) changed since it was submitted. Cancel it and submit it again."
        )
    return json.loads(clear)


def secrets_forget(*, request_id: int) -> None:
    """Drop a request's encrypted secrets once it has ended (rejected, canceled, destroyed)."""
    EnvironmentRequest.objects.filter(pk=request_id).exclude(secret_parameters="").update(secret_parameters="")  # nosec B106: drops them


@dataclass(frozen=True)
class TerraformVariables:
    """Every variable a run gives Terraform, and which of them are secret."""

    values: dict = field(repr=False)
    secret_names: frozenset[str] = frozenset()

    @property
    def secret_values(self) -> list[str]:
        """The secret values as text, to scrub from anything a run writes (longest first)."""
        found = {str(self.values[name]) for name in self.secret_names if self.values.get(name) not in (None, "")}
        return sorted(found, key=len, reverse=True)


@sensitive_variables("secrets")
def terraform_variables(request: EnvironmentRequest) -> TerraformVariables:
    """The Terraform variables of the request's runs: its declared parameters, secrets decrypted,
    and the built-ins its module declares (environment_name, request_id, owner_team, namespace).

    A key the template does not declare never reaches Terraform, even if one was stored.
    """
    from provisioning.services.kubernetes import KubernetesSkipped, cluster_of, namespace_name

    version = request.template_version
    properties = version.parameters_schema.get("properties", {})
    secret_names = library.secret_names(version.parameters_schema)
    values = {name: value for name, value in (request.parameters or {}).items() if name in properties}
    secrets = request_secrets(request)
    for name in secret_names:
        values.pop(name, None)
        if name in secrets:
            values[name] = secrets[name]
    declared = library.declared_variables(version.files)
    builtins = {
        "environment_name": request.name,
        "request_id": request.pk,
        "owner_team": request.team.name if request.team_id else "",
    }
    if "namespace" in declared:
        try:
            builtins["namespace"] = namespace_name(request, cluster_of(request))
        except KubernetesSkipped:
            builtins["namespace"] = ""
    values.update({name: value for name, value in builtins.items() if name in declared})
    return TerraformVariables(values=values, secret_names=secret_names)


def parameter_schema_problem(schema: object) -> str | None:
    """What is wrong with a parameters JSON Schema under the environment templates' rules, or None.

    Shared with the scaffolder, so software templates and environment templates accept the same forms.
    """
    if not isinstance(schema, dict):
        return "parameters must be a JSON Schema object"
    try:
        library.validate_parameters_schema(schema)
    except library.TemplateProblem as exc:
        return str(exc)
    return None


def secret_parameter_names(schema: dict) -> frozenset[str]:
    """The secret parameters of a schema (``writeOnly: true`` or ``format: password``); shared with the scaffolder."""
    return library.secret_names(schema)
