"""The admin's form for Git integrations: the token is write-only."""

from __future__ import annotations

from django import forms

from portal import crypto
from portal.githosts import integrations
from portal.models import GitIntegration


class GitIntegrationForm(forms.ModelForm):
    token = forms.CharField(
        required=False,
        strip=True,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text="Write-only. Leave empty to keep the stored token; tick 'Remove token' to delete it.",
    )
    remove_token = forms.BooleanField(required=False)

    class Meta:
        model = GitIntegration
        fields = ["type", "host", "api_base_url", "allow_private_addresses"]

    def clean(self):
        data = super().clean()
        try:
            data["host"] = integrations.validate(
                type=data.get("type", ""),
                host=data.get("host", ""),
                api_base_url=data.get("api_base_url", ""),
                allow_private_addresses=data.get("allow_private_addresses", ""),
            )
        except ValueError as exc:
            raise forms.ValidationError(str(exc)) from None
        return data

    def save(self, commit=True):
        instance = super().save(commit=False)
        token = self.cleaned_data.get("token") or ""
        if self.cleaned_data.get("remove_token"):
            instance.token_encrypted, instance.token_hint = "", ""
        elif token:
            instance.token_encrypted = crypto.encrypt(token, purpose=integrations.TOKEN_PURPOSE)
            instance.token_hint = f"…{token[-4:]}" if len(token) >= 12 else "set"
        if commit:
            instance.save()
        return instance
