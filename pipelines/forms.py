import re

from django import forms

from pipelines.models import Provider

SOURCE_OWN = "own"
SECRET_CHOICES = [("generate", "Bridge generates a new secret"), (SOURCE_OWN, "Use a secret I already have")]


def _lines(value: str) -> list[str]:
    return [part.strip() for part in re.split(r"[\n,]", value or "") if part.strip()]


class ScopeForm(forms.Form):
    repositories = forms.CharField(
        required=False,
        max_length=5000,
        widget=forms.Textarea(attrs={"rows": 3, "placeholder": "acme/payments\nacme/*"}),
        help_text="One per line: owner/name (GitHub), group/project (GitLab) or a pattern such as acme/* for a "
        "whole organisation. * alone means any repository.",
    )
    owners = forms.CharField(
        required=False,
        max_length=2000,
        widget=forms.TextInput(attrs={"placeholder": "group:default/team-a"}),
        help_text="Teams whose services' repositories it may post for, comma separated (group:namespace/name).",
    )

    def clean_repositories(self):
        return _lines(self.cleaned_data["repositories"])

    def clean_owners(self):
        return _lines(self.cleaned_data["owners"])

    def clean(self):
        data = super().clean()
        if not self.errors and not data.get("repositories") and not data.get("owners"):
            raise forms.ValidationError(
                "Give the repositories this integration posts for, or the teams whose services it serves."
            )
        return data


class IntegrationForm(ScopeForm):
    provider = forms.ChoiceField(choices=Provider.choices)
    name = forms.CharField(max_length=100, help_text="For example “GitHub acme org” or “Jenkins”.")
    secret_source = forms.ChoiceField(
        choices=SECRET_CHOICES, initial="generate", widget=forms.RadioSelect, label="Secret"
    )
    secret = forms.CharField(
        required=False,
        strip=False,
        max_length=256,
        label="Your secret",
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off"}),
        help_text="The secret your organisation's webhook already has. Bridge stores it encrypted and never shows it.",
    )

    field_order = ["provider", "name", "repositories", "owners", "secret_source", "secret"]

    def clean(self):
        data = super().clean()
        if data.get("secret_source") == SOURCE_OWN and not (data.get("secret") or "").strip():
            self.add_error("secret", "Type the secret, or let Bridge generate one. A secret is never empty.")
        return data


class SecretForm(forms.Form):
    secret = forms.CharField(
        strip=False,
        max_length=256,
        label="New secret",
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off"}),
        error_messages={"required": "The secret cannot be empty."},
        help_text="The secret the sender signs with (GitHub) or sends (GitLab, generic). The old one stops at once.",
    )


class LinkRepositoryForm(forms.Form):
    entity = forms.CharField(
        max_length=200,
        required=False,
        help_text="kind:namespace/name, for example component:default/payments. Empty to unlink.",
    )


WINDOW_CHOICES = [(7, "7 days"), (30, "30 days"), (90, "90 days")]


class WindowForm(forms.Form):
    days = forms.TypedChoiceField(choices=WINDOW_CHOICES, coerce=int, required=False, empty_value=30)


class ConnectRepositoryForm(forms.Form):
    url = forms.CharField(
        label="Repository URL",
        max_length=500,
        widget=forms.TextInput(attrs={"placeholder": "https://github.com/acme/payments"}),
        help_text="A GitHub or GitLab repository on a host with a Git integration (its token reads the CI API).",
    )
    days = forms.IntegerField(
        label="Days of history",
        min_value=1,
        max_value=3650,
        help_text="How far back the first read goes; afterwards Bridge asks what changed every few minutes.",
    )
