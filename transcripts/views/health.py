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
    side still serves people, and restarting it would not help the workers.
    """
    figures, serving = health()
    return JsonResponse(figures, status=200 if serving else 503)
