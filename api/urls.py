"""The REST API (namespace "api"), and the portal pages for tokens and webhooks."""

from csp.constants import UNSAFE_INLINE
from csp.decorators import csp_update
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView
from rest_framework.routers import SimpleRouter

from . import pages, views

# Swagger UI's scripts come from this server like every page's; its styles set style=""
# attributes and its icons are data: images, which the site-wide policy would block.
swagger_ui = csp_update({"style-src": [UNSAFE_INLINE], "img-src": ["data:"]})(
    SpectacularSwaggerSplitView.as_view(url_name="api:schema")
)

router = SimpleRouter()
router.register("calls", views.CallViewSet, basename="call")
router.register("teams", views.TeamViewSet, basename="team")
router.register(r"teams/(?P<team_slug>[-\w]+)/trackers", views.TrackerViewSet, basename="tracker")
router.register(
    r"teams/(?P<team_slug>[-\w]+)/webhooks", views.WebhookEndpointViewSet, basename="webhook"
)
router.register(
    r"teams/(?P<team_slug>[-\w]+)/webhook-deliveries",
    views.WebhookDeliveryViewSet,
    basename="delivery",
)

api_patterns = [
    path("v1/", include(router.urls)),
    path("v1/search/", views.SearchView.as_view(), name="search"),
    # The schema and its docs are public: they describe the API, not anyone's data. The docs'
    # script is served from here too, so a CSP of scripts from 'self' is enough.
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    path("docs/", swagger_ui, name="docs"),
]

profile_patterns = [
    path("", pages.profile, name="detail"),
    path("tokens/", pages.token_create, name="token_create"),
    path("tokens/<int:token_id>/revoke/", pages.token_revoke, name="token_revoke"),
    path("notices/", pages.notices, name="notices"),
]

webhook_patterns = [
    path("", pages.endpoint_add, name="endpoint_add"),
    path("<int:endpoint_id>/delete/", pages.endpoint_delete, name="endpoint_delete"),
    path("deliveries/<int:delivery_id>/resend/", pages.delivery_resend, name="delivery_resend"),
]
