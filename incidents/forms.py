from django import forms

from catalog.models import Entity
from incidents.models import Outcome, Severity


class IncidentStartForm(forms.Form):
    entity = forms.ModelChoiceField(
        queryset=Entity.objects.none(), required=False, label="Service", empty_label="(none)"
    )
    severity = forms.ChoiceField(choices=Severity.choices, initial=Severity.SEV3)
    summary = forms.CharField(max_length=300, required=False)

    def __init__(self, *args, runbook=None, **kwargs):
        super().__init__(*args, **kwargs)
        if runbook is not None:
            self.fields["entity"].queryset = runbook.entities.order_by("name")


class IncidentCloseForm(forms.Form):
    outcome = forms.ChoiceField(choices=Outcome.choices)
    notes = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), required=False)
