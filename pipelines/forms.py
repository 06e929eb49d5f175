from django import forms

from pipelines.models import Provider


class IntegrationForm(forms.Form):
    provider = forms.ChoiceField(choices=Provider.choices)
    name = forms.CharField(max_length=100, help_text="For example “GitHub acme org” or “Jenkins”.")


class LinkRepositoryForm(forms.Form):
    entity = forms.CharField(
        max_length=200,
        required=False,
        help_text="kind:namespace/name, for example component:default/payments. Empty to unlink.",
    )


WINDOW_CHOICES = [(7, "7 days"), (30, "30 days"), (90, "90 days")]


class WindowForm(forms.Form):
    days = forms.TypedChoiceField(choices=WINDOW_CHOICES, coerce=int, required=False, empty_value=30)
