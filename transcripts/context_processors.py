from functools import partial

from . import selectors


def teams(request) -> dict:
    """The user's teams and the one they are looking at, for the team switcher in the header.

    Both are lazy: the fragments htmx polls every two seconds never pay for these queries.
    """
    if not getattr(request, "user", None) or not request.user.is_authenticated:
        return {}
    return {
        "my_teams": selectors.teams_for_user(request.user),
        "active_team": partial(selectors.active_team, request),
    }
