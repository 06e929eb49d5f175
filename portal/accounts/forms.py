from django import forms
from django.contrib.auth.forms import AuthenticationForm

from portal.permissions import can_sign_in_with_password


class SignInForm(AuthenticationForm):
    """Django's sign-in form, refusing plainly when password sign-in is off for this account."""

    error_messages = {
        **AuthenticationForm.error_messages,
        "password_off": "Password sign-in is turned off. Use the button above to sign in with your company account.",  # nosec B105: a message
    }

    def clean(self):
        username = self.cleaned_data.get("username")
        if username and not can_sign_in_with_password(username):
            from portal.accounts.services import sign_in_refused

            sign_in_refused(reason="password_sign_in_disabled", request=self.request, username=username)
            raise forms.ValidationError(self.error_messages["password_off"], code="password_off")
        return super().clean()
