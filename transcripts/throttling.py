"""A per-address limit on login forms, on top of django-axes' lockout of a username."""

from __future__ import annotations

import time
from collections.abc import Callable
from functools import wraps

from axes.helpers import get_client_ip_address
from django.conf import settings
from django.core.cache import caches
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

WINDOW_SECONDS = 60


def current_minute() -> int:
    return int(time.time() // WINDOW_SECONDS)


def login_attempts_this_minute(address: str) -> int:
    """Count one more login form from `address` in the current minute, and return the count."""
    key = f"login-posts:{address}:{current_minute()}"
    cache = caches["shared"]
    # add() only starts the count; incr() of two requests at once may count one of them, which
    # is close enough for a limit meant to stop thousands of guesses.
    cache.add(key, 0, timeout=2 * WINDOW_SECONDS)
    try:
        return cache.incr(key)
    except ValueError:  # expired between add() and incr()
        cache.add(key, 1, timeout=2 * WINDOW_SECONDS)
        return 1


def limit_login_rate(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Answer 429 to an address that sends more than LOGIN_RATE_LIMIT_PER_MINUTE login forms.

    The address is the one django-axes locks out, read the same way (behind the proxy too), so
    one person cannot try many usernames from one address, nor lock many of them out.
    """

    @wraps(view)
    def limited(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        limit = settings.LOGIN_RATE_LIMIT_PER_MINUTE
        if request.method == "POST" and limit:
            address = get_client_ip_address(request) or "unknown"
            if login_attempts_this_minute(address) > limit:
                response = render(request, "registration/too_many_logins.html", status=429)
                response["Retry-After"] = str(WINDOW_SECONDS)
                return response
        return view(request, *args, **kwargs)

    return limited
