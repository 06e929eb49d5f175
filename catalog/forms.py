"""Forms of the catalog: create and edit an entity, import YAML."""

from __future__ import annotations

from django import forms

from catalog.models import Entity, Kind

EDITABLE_KINDS = [(k.value, k.label) for k in Kind if k not in (Kind.LOCATION, Kind.TEMPLATE)]


def _lines(value: str) -> list[str]:
    return [item.strip() for chunk in value.splitlines() for item in chunk.split(",") if item.strip()]


class EntityForm(forms.Form):
    """The common fields of a descriptor; the rest of an existing spec is kept as it is."""

    kind = forms.ChoiceField(choices=EDITABLE_KINDS, initial=Kind.COMPONENT)
    namespace = forms.CharField(max_length=63, initial="default")
    name = forms.CharField(max_length=63, help_text="Letters and digits separated by '-', '_' or '.'; 63 at most.")
    title = forms.CharField(max_length=200, required=False)
    description = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), required=False)
    type = forms.CharField(max_length=100, required=False, help_text="service, website, library, database, team…")
    lifecycle = forms.CharField(max_length=100, required=False, help_text="experimental, production, deprecated")
    owner = forms.CharField(max_length=150, required=False, help_text="The owning group, e.g. team-payments.")
    system = forms.CharField(max_length=150, required=False)
    tags = forms.CharField(required=False, help_text="Comma-separated, lower case: python, pci")
    depends_on = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 2}), required=False, help_text="One reference a line: component:ledger"
    )
    provides_apis = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), required=False)
    consumes_apis = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), required=False)
    definition = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 6}), required=False, help_text="APIs: the OpenAPI, AsyncAPI, … text."
    )

    def __init__(self, *args, entity: Entity | None = None, **kwargs):
        self.entity = entity
        if entity is not None and "initial" not in kwargs:
            spec = entity.spec
            kwargs["initial"] = {
                "kind": entity.kind,
                "namespace": entity.namespace,
                "name": entity.name,
                "title": entity.title,
                "description": entity.description,
                "type": spec.get("type", ""),
                "lifecycle": spec.get("lifecycle", ""),
                "owner": spec.get("owner", ""),
                "system": spec.get("system", ""),
                "tags": ", ".join(entity.tags),
                "depends_on": "\n".join(map(str, spec.get("dependsOn") or [])),
                "provides_apis": "\n".join(map(str, spec.get("providesApis") or [])),
                "consumes_apis": "\n".join(map(str, spec.get("consumesApis") or [])),
                "definition": spec.get("definition", "") if isinstance(spec.get("definition"), str) else "",
            }
        super().__init__(*args, **kwargs)
        if entity is not None:
            for name in ("kind", "namespace", "name"):
                self.fields[name].disabled = True

    def document(self) -> dict:
        """The descriptor this form describes, on top of the entity's current one."""
        data = self.cleaned_data
        base = self.entity
        spec = dict(base.spec) if base else {}
        for key, value in (
            ("type", data["type"]),
            ("lifecycle", data["lifecycle"]),
            ("owner", data["owner"]),
            ("system", data["system"]),
            ("definition", data["definition"]),
        ):
            if value:
                spec[key] = value
            else:
                spec.pop(key, None)
        for key, field in (
            ("dependsOn", "depends_on"),
            ("providesApis", "provides_apis"),
            ("consumesApis", "consumes_apis"),
        ):
            values = _lines(data[field])
            if values:
                spec[key] = values
            else:
                spec.pop(key, None)
        metadata = {
            "name": data["name"],
            "namespace": data["namespace"] or "default",
            "title": data["title"],
            "description": data["description"],
            "tags": _lines(data["tags"]),
        }
        if base is not None:
            metadata.update(labels=base.labels, annotations=base.annotations, links=base.links)
        return {
            "apiVersion": base.api_version if base else "backstage.io/v1alpha1",
            "kind": data["kind"],
            "metadata": {k: v for k, v in metadata.items() if v not in ("", [], {}, None)},
            "spec": spec,
        }


class ImportForm(forms.Form):
    text = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 14, "spellcheck": "false"}),
        required=False,
        label="Paste YAML",
        help_text="One or more Backstage descriptors separated by ---.",
    )
    file = forms.FileField(required=False, label="…or upload a file")
    name = forms.CharField(
        max_length=200,
        required=False,
        label="Source name",
        help_text="Re-importing under the same name orphans the entities that are no longer in it. "
        "Names belong to a team: two teams' “pasted” are two sources.",
    )
    team = forms.ChoiceField(
        required=False,
        label="For",
        help_text="The team this upload is for; it may only hold entities that team owns.",
    )
    path = forms.CharField(
        max_length=1000,
        required=False,
        label="…or a folder on the server",
        help_text="Platform Admins: a folder under the import roots; every catalog-info.yaml below it is read.",
    )

    def __init__(self, *args, user=None, **kwargs):
        super().__init__(*args, **kwargs)
        from catalog import permissions
        from catalog.descriptors import format_ref
        from portal.permissions import is_platform_admin

        teams = [(ref, format_ref(ref)) for ref in sorted(permissions.team_refs_of(user))] if user else []
        field = self.fields["team"]
        if user is not None and is_platform_admin(user):
            field.choices = [("", f"Yourself ({user.get_username()})"), *teams]
            field.help_text = "Platform Admins upload as themselves, or for a team they are in."
        else:
            field.choices = teams
            field.initial = teams[0][0] if teams else ""

    def clean(self):
        data = super().clean()
        given = [bool(data.get("text", "").strip()), bool(data.get("file")), bool(data.get("path", "").strip())]
        if sum(given) == 0:
            raise forms.ValidationError("Paste YAML, choose a file or give a folder.")
        if sum(given) > 1:
            raise forms.ValidationError("Import one thing at a time: pasted YAML, a file or a folder.")
        return data


class ScorecardForm(forms.Form):
    name = forms.CharField(max_length=100)
    description = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), required=False)
    applies_to_kind = forms.ChoiceField(choices=[("", "Any kind"), *Kind.choices], required=False, label="Kind")
    applies_to_type = forms.CharField(
        max_length=100, required=False, label="Type", help_text="e.g. service; empty: any"
    )
    applies_to_tag = forms.CharField(max_length=63, required=False, label="Tag", help_text="empty: any")
    rules = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 8, "spellcheck": "false"}),
        help_text="One rule a line: level: check [parameter], e.g. 'bronze: has_owner', "
        "'silver: has_link dashboard', 'gold: ci_success_rate 95'.",
    )


class LocationForm(forms.Form):
    """Register a Git location: a file URL, or a repository with a ref and a path."""

    url = forms.CharField(
        label="File URL",
        required=False,
        max_length=2000,
        help_text="https://github.com/OWNER/REPO/blob/BRANCH/catalog-info.yaml or "
        "https://gitlab.example.com/GROUP/PROJECT/-/blob/BRANCH/catalog-info.yaml",
        widget=forms.URLInput(attrs={"placeholder": "https://github.com/acme/shop/blob/main/catalog-info.yaml"}),
    )
    repository = forms.CharField(
        label="Or: repository",
        required=False,
        max_length=1000,
        help_text="Clone URL of a repository on a configured host (plain Git hosts need this form).",
    )
    ref = forms.CharField(label="Ref", required=False, max_length=255, help_text="Branch, tag or commit")
    path = forms.CharField(label="Path", required=False, max_length=1000, help_text="catalog-info.yaml")


class DiscoveryForm(forms.Form):
    """Discover a GitHub organisation or a GitLab group."""

    host = forms.CharField(max_length=255, help_text="The integration's host, e.g. github.com or gitlab.example.com")
    owner = forms.CharField(
        label="Organisation or group", max_length=255, help_text="GitHub organisation (or user), or GitLab group path"
    )
    catalog_path = forms.CharField(label="Catalog file", max_length=500, initial="catalog-info.yaml")
    include = forms.CharField(
        required=False, max_length=5000, help_text="Repository name patterns to include, comma-separated (empty: all)"
    )
    exclude = forms.CharField(required=False, max_length=5000, help_text="Repository name patterns to leave out")
