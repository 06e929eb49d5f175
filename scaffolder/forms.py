"""The run form: Bridge's own fields, then the template's parameters from its JSON Schema.

Parameters use the environment templates' field builder (``provisioning.forms.parameter_field``),
so both forms look and validate alike; the service checks everything again.
"""

from __future__ import annotations

from django import forms

from provisioning.forms import PARAM_PREFIX, parameter_field
from provisioning.services import secret_parameter_names
from scaffolder import services
from scaffolder.models import ScaffolderRun, SoftwareTemplate


class RunForm(forms.Form):
    name = forms.CharField(
        max_length=63,
        help_text="The new component's and repository's name: lower case letters, digits and hyphens.",
        widget=forms.TextInput(attrs={"autocomplete": "off", "pattern": "[a-z][-a-z0-9]*[a-z0-9]"}),
    )
    owner = forms.ChoiceField(label="Owner", help_text="The team that owns the new component.")
    destination = forms.ChoiceField(label="Repository", help_text="Where Bridge creates the repository.")
    repository_owner = forms.CharField(
        required=False, max_length=200, label="Organisation or group", help_text="GitHub organisation or GitLab group."
    )
    repository_url = forms.CharField(
        required=False,
        max_length=500,
        label="Existing repository URL",
        help_text="Only for an existing empty repository.",
    )
    visibility = forms.ChoiceField(choices=[(v, v.capitalize()) for v in services.VISIBILITIES], required=False)

    def __init__(self, *args, template: SoftwareTemplate, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.template = template
        owners = services.owner_choices(user)
        self.fields["owner"].choices = [(ref, ref) for ref in owners]
        if not owners:
            self.fields["owner"].help_text = "You are in no team yet: ask a team to add you in the catalog first."
        self.fields["destination"].choices = services.destinations()
        self.fields["visibility"].initial = template.descriptor.get("publish", {}).get("visibility", "private")
        environment = template.descriptor.get("steps", {}).get("environment")
        if environment:
            self.fields["with_environment"] = forms.BooleanField(
                required=False,
                label=f"Request a first environment ({environment['template']})",
                help_text="Submitted once the component is in the catalog; it goes through its own approval.",
            )
        required = set(template.parameters_schema.get("required", []))
        for name, prop in template.ordered_parameters:
            self.fields[PARAM_PREFIX + name] = parameter_field(name, prop, name in required)

    def parameter_fields(self):
        return [self[name] for name in self.fields if name.startswith(PARAM_PREFIX)]

    def run_fields(self):
        return [self[name] for name in self.fields if not name.startswith(PARAM_PREFIX)]

    def submitted(self) -> dict:
        data = getattr(self, "cleaned_data", {})
        parameters = {}
        for name, value in data.items():
            if name.startswith(PARAM_PREFIX) and not (value in ("", None) and not isinstance(value, bool)):
                parameters[name[len(PARAM_PREFIX) :]] = value
        for key in self.data:  # offered nowhere: passed on so that the service refuses it by name
            if key.startswith(PARAM_PREFIX) and key not in self.fields:
                parameters[key[len(PARAM_PREFIX) :]] = self.data.get(key)
        return {
            "name": data.get("name", self.data.get("name", "")),
            "owner": data.get("owner", ""),
            "destination": data.get("destination", ""),
            "repository_owner": data.get("repository_owner", ""),
            "repository_url": data.get("repository_url", ""),
            "visibility": data.get("visibility", ""),
            "with_environment": bool(data.get("with_environment")),
            "parameters": parameters,
        }

    def add_service_errors(self, errors: dict[str, list[str]]) -> None:
        for field, messages in errors.items():
            target = field if field in self.fields else PARAM_PREFIX + field
            target = target if target in self.fields else None
            if target is not None and target in self.errors:
                continue
            for message in messages:
                self.add_error(target, message)


def initial_from(run: ScaffolderRun) -> dict:
    """The form's values of an earlier preview ("Change the values"); secrets are never sent back."""
    target = run.target
    kind = target.get("kind", "")
    initial = {
        "name": run.name,
        "owner": run.owner,
        "destination": f"{kind}:{target.get('host')}" if kind in ("github", "gitlab") else kind,
        "repository_owner": target.get("owner", ""),
        "repository_url": target.get("url", ""),
        "visibility": target.get("visibility", ""),
        "with_environment": bool(target.get("with_environment")),
    }
    secret = secret_parameter_names(run.template.parameters_schema)
    initial.update({PARAM_PREFIX + k: v for k, v in run.parameters.items() if k not in secret})
    return initial
