"""Passwords: a reset by e-mail, in the site's layout. Django's views, with two changes."""

from __future__ import annotations

from django.contrib.auth import views as auth_views
from django.contrib.auth.tokens import PasswordResetTokenGenerator
from django.urls import reverse_lazy

from ..forms import AnyAccountPasswordResetForm
from ..models import Profile


class PasswordResetTokens(PasswordResetTokenGenerator):
    # Its own salt: the set-password links managers were once shown for new members are
    # Django's default tokens, and must not verify an address (or set a password) any more.
    key_salt = "callscribe.views.accounts.PasswordResetTokens"


password_reset_tokens = PasswordResetTokens()


class PasswordResetView(auth_views.PasswordResetView):
    form_class = AnyAccountPasswordResetForm
    token_generator = password_reset_tokens
    success_url = reverse_lazy("password_reset_done")


class PasswordResetConfirmView(auth_views.PasswordResetConfirmView):
    token_generator = password_reset_tokens
    success_url = reverse_lazy("password_reset_complete")

    def form_valid(self, form):
        response = super().form_valid(form)
        # The link came by e-mail to the account's address: the address is the person's.
        Profile.verify_email(form.user)
        return response
