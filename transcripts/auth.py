"""Logging in with an e-mail address as well as a username, and what django-axes counts.

Django's ModelBackend keeps answering for exact usernames (sessions and tests name it); this
backend answers for the rest: an account's e-mail address, or its username typed in another
case, when exactly one account has it. Addresses are unique whatever their case (the forms
check it, and `manage.py check` warns about older duplicates, which cannot log in by address).
"""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend
from django.core import checks
from django.db.models import Count
from django.db.models.functions import Lower


def account_for_login(identifier: str | None):
    """The one active-or-not account that `identifier` names: its username (exactly, else in
    any case) or its e-mail address (any case). None when none does, or several do."""
    identifier = (identifier or "").strip()
    if not identifier:
        return None
    users = get_user_model()._default_manager
    exact = users.filter(username=identifier).first()
    if exact is not None:
        return exact
    field = "email__iexact" if "@" in identifier else "username__iexact"
    found = list(users.filter(**{field: identifier})[:2])
    return found[0] if len(found) == 1 else None


class EmailOrUsernameBackend(ModelBackend):
    def authenticate(self, request, username=None, password=None, **kwargs):
        if username is None:
            username = kwargs.get(get_user_model().USERNAME_FIELD)
        if username is None or password is None:
            return None
        user = account_for_login(username)
        # An exact username is ModelBackend's (listed before this one), which has already run
        # the password hasher for unknown names too, so that timing does not reveal accounts.
        if user is None or user.get_username() == username.strip():
            return None
        if user.check_password(password) and self.user_can_authenticate(user):
            return user
        return None


def axes_username(request, credentials: dict | None = None) -> str:
    """What django-axes counts failures against: the account, however it was named (username,
    e-mail address, any case), so that switching between them does not reset the count."""
    typed = (credentials or {}).get("username")
    if typed is None and request is not None:
        typed = request.POST.get("username", "")
    user = account_for_login(typed)
    return user.get_username() if user is not None else (typed or "").strip().lower()


def email_taken(email: str, *, excluding=None) -> bool:
    users = get_user_model()._default_manager.filter(email__iexact=email.strip())
    if excluding is not None and excluding.pk:
        users = users.exclude(pk=excluding.pk)
    return bool(email.strip()) and users.exists()


@checks.register(checks.Tags.security)
def check_unique_addresses(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    from django.db import DatabaseError

    try:
        duplicates = list(
            get_user_model()
            ._default_manager.exclude(email="")
            .annotate(address=Lower("email"))
            .values("address")
            .annotate(accounts=Count("pk"))
            .filter(accounts__gt=1)
            .values_list("address", flat=True)[:5]
        )
    except DatabaseError:  # no tables yet (before the first migrate)
        return []
    if not duplicates:
        return []
    return [
        checks.Warning(
            f"Several accounts share an e-mail address: {', '.join(duplicates)}.",
            hint="Give each account its own address (admin, Users): until then none of them "
            "can log in with that address.",
            id="transcripts.W001",
        )
    ]
