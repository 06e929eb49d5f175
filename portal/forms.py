from django import forms

from portal.params import parse_int


class ModelMultipleIdsField(forms.ModelMultipleChoiceField):
    """Objects chosen by id, where an id that is no whole number (or too large for the database)
    is an invalid choice rather than a database error (SQLite overflows on huge ones)."""

    def _check_values(self, value):
        for pk in value:
            if parse_int(pk) is None:
                raise forms.ValidationError(
                    self.error_messages["invalid_pk_value"], code="invalid_pk_value", params={"pk": pk}
                )
        return super()._check_values(value)


class TokenCreateForm(forms.Form):
    name = forms.CharField(
        max_length=100,
        help_text="What the token is for, e.g. 'CI import job'.",
        widget=forms.TextInput(attrs={"autofocus": True, "placeholder": "CI import job"}),
        error_messages={
            "required": "Give the token a name, so you can tell it apart later.",
            "max_length": "Give the token a name of at most 100 characters.",
        },
    )
    write = forms.BooleanField(required=False, label="Can change things (write scope)")
    expires_in_days = forms.IntegerField(
        min_value=1, required=False, label="Expires in (days)", error_messages={"invalid": "Enter a number of days."}
    )

    def __init__(self, *args, **kwargs):
        from django.conf import settings

        super().__init__(*args, **kwargs)
        self.max_days = settings.API_TOKEN_MAX_DAYS
        field = self.fields["expires_in_days"]
        field.initial = settings.API_TOKEN_DEFAULT_DAYS
        field.widget.attrs.update(max=self.max_days, min=1)

    def clean_expires_in_days(self):
        days = self.cleaned_data.get("expires_in_days")
        if days is not None and days > self.max_days:
            raise forms.ValidationError(f"A token lives at most {self.max_days} days.")
        return days

    def clean(self):
        data = super().clean()
        data["scopes"] = ["read", "write"] if data.get("write") else ["read"]
        return data


class NotificationPreferencesForm(forms.Form):
    """A checkbox per event and channel (in the portal, by email)."""

    CHANNELS = (("in_app", "In the portal"), ("email", "Email"))

    def __init__(self, *args, current: dict, **kwargs):
        from portal.models import NotificationEvent

        super().__init__(*args, **kwargs)
        self.events = NotificationEvent.choices
        for event, _label in self.events:
            for channel, channel_label in self.CHANNELS:
                self.fields[f"{event}__{channel}"] = forms.BooleanField(
                    required=False, initial=current.get((event, channel), True), label=channel_label
                )

    def rows(self):
        return [(label, [self[f"{event}__{channel}"] for channel, _ in self.CHANNELS]) for event, label in self.events]

    def choices(self) -> dict[tuple[str, str], bool]:
        return {
            (event, channel): bool(self.cleaned_data.get(f"{event}__{channel}"))
            for event, _ in self.events
            for channel, _ in self.CHANNELS
        }
