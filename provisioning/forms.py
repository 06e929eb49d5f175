"""The request form, generated from the template version's JSON Schema.

Django's fields give per-field errors for types and bounds at once; the
service validates everything again with ``jsonschema`` (the source of truth,
shared with the API) and its errors are put back on the same fields.
"""

from __future__ import annotations

from django import forms
from django.core.validators import MaxLengthValidator, MaxValueValidator, MinLengthValidator

from catalog.models import Entity
from catalog.selectors import teams_of
from provisioning.library import is_secret
from provisioning.models import TemplateVersion
from provisioning.services import clusters_offered

PARAM_PREFIX = "p_"
ENTITY_KINDS = ("Component", "System", "API", "Resource")


def _parameter_field(name: str, prop: dict, required: bool) -> forms.Field:
    ui = prop.get("x-ui", {})
    common = {
        "label": prop.get("title") or name.replace("_", " ").capitalize(),
        "help_text": prop.get("description", ""),
        "required": required and prop.get("type") != "boolean",
        "initial": prop.get("default"),
    }
    kind = prop.get("type")
    if "enum" in prop:
        choices = [(str(v), str(v)) for v in prop["enum"]]
        widget = forms.RadioSelect if ui.get("widget") == "radio" else forms.Select
        if kind == "integer":
            return forms.TypedChoiceField(choices=choices, coerce=int, widget=widget, **common)
        return forms.ChoiceField(choices=choices, widget=widget, **common)
    if kind == "boolean":
        return forms.BooleanField(**common)
    if kind == "integer":
        return forms.IntegerField(min_value=prop.get("minimum"), max_value=prop.get("maximum"), **common)
    if kind == "number":
        return forms.FloatField(min_value=prop.get("minimum"), max_value=prop.get("maximum"), **common)
    attrs = {}
    if ui.get("placeholder"):
        attrs["placeholder"] = ui["placeholder"]
    if is_secret(prop):
        # Never sent back to the browser, not even after an error elsewhere on the form.
        widget = forms.PasswordInput(render_value=False, attrs={**attrs, "autocomplete": "new-password"})
        # Bounds whose messages never tell the secret's length ("it has 5").
        bounds = []
        if prop.get("minLength"):
            bounds.append(MinLengthValidator(prop["minLength"], f"Use at least {prop['minLength']} characters."))
        if prop.get("maxLength"):
            bounds.append(MaxLengthValidator(prop["maxLength"], f"Use at most {prop['maxLength']} characters."))
        return forms.CharField(strip=False, widget=widget, validators=bounds, **common)
    widget = forms.Textarea(attrs={**attrs, "rows": 3}) if ui.get("widget") == "textarea" else forms.TextInput(attrs)
    return forms.CharField(
        min_length=prop.get("minLength"), max_length=prop.get("maxLength"), strip=True, widget=widget, **common
    )


# Public: the scaffolder builds its parameter fields with it, so both forms behave alike.
parameter_field = _parameter_field


class RequestForm(forms.Form):
    name = forms.CharField(
        max_length=40,
        help_text="Lower case letters, digits and hyphens; unique among live environments.",
        widget=forms.TextInput(attrs={"autocomplete": "off", "pattern": "[a-z]([-a-z0-9]*[a-z0-9])?"}),
    )
    entity = forms.ModelChoiceField(
        queryset=Entity.objects.none(), label="Belongs to", help_text="The catalog entity this environment serves."
    )
    team = forms.ModelChoiceField(
        queryset=Entity.objects.none(),
        required=False,
        label="Owning team",
        help_text="Its members can follow, cancel and retry the request.",
    )
    ttl_hours = forms.IntegerField(label="Lifetime (hours)", min_value=1)
    justification = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}), max_length=2000, help_text="Approvers read this."
    )

    def __init__(self, *args, version: TemplateVersion, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.version = version
        entities = Entity.objects.filter(kind__in=ENTITY_KINDS).order_by("kind", "namespace", "name")
        self.fields["entity"].queryset = entities
        if not entities.exists():
            self.fields["entity"].required = False
            self.fields["entity"].help_text = "The catalog has no components yet; you can leave this empty."
        self.fields["team"].queryset = teams_of(user).order_by("name")
        self.fields["ttl_hours"].max_value = version.max_ttl_hours
        self.fields["ttl_hours"].validators.append(MaxValueValidator(version.max_ttl_hours))
        self.fields["ttl_hours"].initial = version.default_ttl_hours
        self.fields["ttl_hours"].help_text = f"At most {version.max_ttl_hours} hours."
        self.fields["ttl_hours"].widget.attrs["max"] = version.max_ttl_hours
        clusters = clusters_offered(version)
        if len(clusters) > 1:
            self.fields["cluster"] = forms.ChoiceField(
                choices=[(c.name, c.name) for c in clusters],
                initial=clusters[0].name,
                label="Cluster",
                help_text="Where the environment's Kubernetes namespace is created; the template allows these.",
            )
        schema = version.parameters_schema
        required = set(schema.get("required", []))
        for name, prop in version.ordered_parameters:
            self.fields[PARAM_PREFIX + name] = _parameter_field(name, prop, name in required)

    def parameter_fields(self):
        return [self[name] for name in self.fields if name.startswith(PARAM_PREFIX)]

    def request_fields(self):
        return [self[name] for name in self.fields if not name.startswith(PARAM_PREFIX)]

    def parameters(self) -> dict:
        values = {}
        for name, value in getattr(self, "cleaned_data", {}).items():
            if not name.startswith(PARAM_PREFIX):
                continue
            if value in ("", None) and not isinstance(value, bool):
                continue  # left empty: the schema's default (if any) applies
            values[name[len(PARAM_PREFIX) :]] = value
        # A parameter the form does not offer is passed on, so the service refuses it by name.
        for key in self.data:
            if key.startswith(PARAM_PREFIX) and key not in self.fields:
                values[key[len(PARAM_PREFIX) :]] = self.data.get(key)
        return values

    def submitted(self) -> dict:
        """The values for the service, as far as they parsed: fields with an error are left out."""
        data = getattr(self, "cleaned_data", {})
        return {
            "entity": data.get("entity"),
            "team": data.get("team"),
            "name": data.get("name", ""),
            "justification": data.get("justification", ""),
            "ttl_hours": data.get("ttl_hours"),
            "parameters": self.parameters(),
            "cluster": data.get("cluster"),
        }

    def add_service_errors(self, errors: dict[str, list[str]]) -> None:
        """Put the service's errors on their fields; a field that already shows an error keeps only that one."""
        for field, messages in errors.items():
            target = field if field in self.fields else PARAM_PREFIX + field
            target = target if target in self.fields else None
            if target is not None and target in self.errors:
                continue
            for message in messages:
                self.add_error(target, message)


class DecisionForm(forms.Form):
    comment = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), required=False, max_length=2000)
