from django.contrib.auth.decorators import login_not_required
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from ..health import health


@require_GET
@never_cache
@login_not_required
def healthz(request: HttpRequest) -> JsonResponse:
    """For load balancers and ops: 200 while the database answers, 503 when it does not.

    Slow or missing workers show as "degraded" in the body, not as a failing status: the web
    side still serves people, and restarting it would not help the workers. Anyone gets the
    status; the queue's figures are for staff (they tell how busy the business is).
    """
    figures, serving = health()
    # With the database down, request.user cannot be read (the session is in the database).
    if serving and request.user.is_staff:
        return JsonResponse(figures)
    return JsonResponse({"status": figures["status"]}, status=200 if serving else 503)
