from django import template

from ..forms import WebhookEndpointForm
from ..models import WebhookDelivery

register = template.Library()


@register.inclusion_tag("api/_team_webhooks.html", takes_context=True)
def team_webhooks(context, team):
    """The webhooks section of a team's page: its managers see endpoints and deliveries."""
    request = context["request"]
    if not team.is_manager(request.user):
        return {"show": False}
    return {
        "show": True,
        "team": team,
        "endpoints": team.webhook_endpoints.all(),
        "deliveries": WebhookDelivery.objects.filter(endpoint__team=team).select_related(
            "endpoint"
        )[:20],
        "form": WebhookEndpointForm(),
        "csrf_token": context.get("csrf_token"),
    }
