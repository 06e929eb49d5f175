from django import forms


class TokenCreateForm(forms.Form):
    name = forms.CharField(
        max_length=100,
        help_text="What the token is for, e.g. 'CI import job'.",
        widget=forms.TextInput(attrs={"autofocus": True, "placeholder": "CI import job"}),
    )
