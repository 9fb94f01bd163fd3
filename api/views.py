"""The REST API (/api/v1/): the portal's calls, transcripts, analytics, exports, search, trackers
and teams for scripts and other systems. Every query goes through the portal's selectors and
every write through its services, so access rules and limits are the same as on the pages."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Prefetch, Value
from django.db.models.functions import Coalesce
from django.utils.http import content_disposition_header
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import exceptions, mixins, pagination, renderers, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response
from rest_framework.views import APIView

from transcripts import exports, selectors, services
from transcripts.forms import CallFilterForm
from transcripts.models import Call, Membership, Team, Tracker
from transcripts.uploads import too_large_message
from transcripts.views.export import export_name
from transcripts.views.teams import team_managed_by

from . import serializers, webhooks
from .models import WebhookDelivery, WebhookEndpoint
from .services import (
    IdempotencyMismatch,
    call_create_once,
    call_import_url,
    request_fingerprint,
)


class Conflict(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_detail = "The call is not in a state for this."
    default_code = "conflict"


class PayloadTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_code = "too_large"


def _validation_error(error: ValidationError) -> exceptions.ValidationError:
    return exceptions.ValidationError({"detail": error.messages})


def _call_or_404(request, uuid) -> Call:
    # The portal's rule: a call outside one's teams is 404, never 403.
    return selectors.call_for_user(request.user, uuid)


def _check_changeable(call: Call, user, doing: str) -> None:
    # The portal's rule: renaming, deleting, transcribing again and cancelling are the
    # uploader's or a manager's.
    if not call.can_change(user):
        raise PermissionDenied(f"Only the uploader or a manager can {doing} this call.")


# --- Teams and trackers -----------------------------------------------------------------------


@extend_schema(tags=["teams"])
class TeamViewSet(viewsets.ReadOnlyModelViewSet):
    """The teams the token's owner is in."""

    serializer_class = serializers.TeamSerializer
    lookup_field = "slug"
    pagination_class = None

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Team.objects.none()
        return selectors.teams_for_user(self.request.user).prefetch_related(
            Prefetch("memberships", queryset=Membership.objects.filter(user=self.request.user))
        )


@extend_schema(tags=["teams"])
class TrackerViewSet(viewsets.ReadOnlyModelViewSet):
    """A team's trackers: phrases found in every call's transcript."""

    serializer_class = serializers.TrackerSerializer
    pagination_class = None
    queryset = None

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Tracker.objects.none()
        team = selectors.team_for_user(self.request.user, self.kwargs["team_slug"])
        return team.trackers.all()


# --- Calls ------------------------------------------------------------------------------------


class CallCursorPagination(pagination.CursorPagination):
    """Cursor pages in the order `sort` asks for (the call list's sorts)."""

    page_size = 25
    page_size_query_param = "page_size"
    max_page_size = 100
    ordering = "-sort_value"

    def get_ordering(self, request, queryset, view):
        sort = request.query_params.get("sort") or "-created"
        key = sort.lstrip("-")
        if key not in selectors.CALL_SORTS:
            return ("-sort_value", "-pk")
        return ("-sort_value" if sort.startswith("-") else "sort_value", "-pk")

    def paginate_queryset(self, queryset, request, view=None):
        # The sort's type, so that decode_cursor can check a cursor's position against it.
        self.sort_field = queryset.query.annotations["sort_value"].output_field
        return super().paginate_queryset(queryset, request, view)

    def decode_cursor(self, request):
        """DRF's cursor, refused as invalid (404) when its position is not a value of the sort:
        DRF hands the position to the database as it is, and a forged one would be a 500."""
        cursor = super().decode_cursor(request)
        if cursor is None or cursor.position is None:
            return cursor
        try:
            self.sort_field.to_python(cursor.position)
        except (ValueError, ValidationError):
            raise exceptions.NotFound(self.invalid_cursor_message) from None
        # Any text is a title's position, but PostgreSQL refuses a NUL in a query.
        if "\x00" in cursor.position:
            raise exceptions.NotFound(self.invalid_cursor_message)
        return cursor


CALL_LIST_PARAMETERS = [
    OpenApiParameter("team", str, description="A team's slug: only its calls."),
    OpenApiParameter("status", str, enum=Call.Status.values),
    OpenApiParameter("uploader", str, description="The uploader's username."),
    OpenApiParameter("date_from", OpenApiTypes.DATE),
    OpenApiParameter("date_to", OpenApiTypes.DATE),
    OpenApiParameter(
        "sort",
        str,
        enum=[f"{d}{k}" for k in selectors.CALL_SORTS for d in ("", "-")],
        description="A column, with - for descending; -created by default.",
    ),
]


@extend_schema(tags=["calls"])
class CallViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet,
):
    serializer_class = serializers.CallSerializer
    pagination_class = CallCursorPagination
    lookup_field = "uuid"
    lookup_value_converter = "uuid"

    def get_queryset(self):
        return selectors.calls_for_user(self.request.user).select_related("url_import")

    def get_object(self) -> Call:
        return _call_or_404(self.request, self.kwargs["uuid"])

    @extend_schema(parameters=CALL_LIST_PARAMETERS)
    def list(self, request, *args, **kwargs):
        calls = self.get_queryset()
        if team_slug := selectors.query_text(request.query_params, "team"):
            calls = calls.filter(team=selectors.team_for_user(request.user, team_slug))
        data = request.query_params.copy()
        # The API names the uploader by username; the form takes the user's id ("0": nobody).
        data["uploader"] = ""
        if username := selectors.query_text(request.query_params, "uploader"):
            user = selectors.uploaders_for_user(request.user).filter(username=username)
            data["uploader"] = user.values_list("pk", flat=True).first() or "0"
        form = CallFilterForm(data, uploaders=selectors.uploaders_for_user(request.user))
        if not form.is_valid():
            raise exceptions.ValidationError(form.errors)
        filters = form.filters()
        calls = selectors.filter_calls(calls, **filters)
        key = filters["sort"].lstrip("-")
        expression = selectors.CALL_SORTS.get(key, selectors.CALL_SORTS["created"])
        if key == "duration":
            # A cursor cannot point between NULLs: calls without a length sort as 0 s.
            expression = Coalesce(expression, Value(0.0))
        page = self.paginate_queryset(calls.annotate(sort_value=expression))
        return self.get_paginated_response(self.get_serializer(page, many=True).data)

    @extend_schema(
        request={
            "multipart/form-data": serializers.CallCreateSerializer,
            "application/json": serializers.CallCreateSerializer,
        },
        parameters=[
            OpenApiParameter(
                "Idempotency-Key",
                str,
                OpenApiParameter.HEADER,
                description="Retrying with the same key returns the call made the first time.",
            )
        ],
        responses={
            201: serializers.CallSerializer,
            200: OpenApiResponse(serializers.CallSerializer, "An earlier request's call."),
            413: OpenApiResponse(description="Larger than the upload limit."),
        },
    )
    def create(self, request, *args, **kwargs):
        """Upload a recording (multipart `audio`), or give a URL for a worker to download."""
        if getattr(request._request, "upload_too_large", False):
            raise PayloadTooLarge(too_large_message())
        teams = selectors.teams_for_user(request.user)
        incoming = serializers.CallCreateSerializer(
            data=request.data, context={"request": request, "teams": teams}
        )
        incoming.is_valid(raise_exception=True)
        data = incoming.validated_data

        def create() -> Call:
            try:
                if data.get("url"):
                    return call_import_url(
                        team=data["team"],
                        user=request.user,
                        url=data["url"],
                        title=data.get("title", ""),
                        rep=data.get("rep"),
                        speakers_expected=data.get("speakers_expected"),
                        quality=data["quality"],
                    )
                return services.call_create(
                    team=data["team"],
                    user=request.user,
                    upload=data["audio"],
                    title=data.get("title", ""),
                    rep=data.get("rep"),
                    speakers_expected=data.get("speakers_expected"),
                    quality=data["quality"],
                )
            except ValidationError as error:
                raise _validation_error(error) from error

        key = request.headers.get("Idempotency-Key", "").strip()
        if not key:
            call, created = create(), True
        else:
            audio = data.get("audio")
            fingerprint = request_fingerprint(
                {
                    "team": data["team"].slug,
                    "title": data.get("title", ""),
                    "url": data.get("url"),
                    "quality": data["quality"],
                    "audio": [audio.name, audio.size] if audio else None,
                    "rep": data["rep"].username if data.get("rep") else None,
                    "speakers_expected": data.get("speakers_expected"),
                }
            )
            try:
                call, created = call_create_once(
                    user=request.user, key=key[:255], fingerprint=fingerprint, create=create
                )
            except IdempotencyMismatch as error:
                raise exceptions.ValidationError({"detail": str(error)}) from error
        answer = self.get_serializer(call)
        return Response(answer.data, status=status.HTTP_201_CREATED if created else 200)

    @extend_schema(request=serializers.CallUpdateSerializer, responses=serializers.CallSerializer)
    def partial_update(self, request, *args, **kwargs):
        """Change the title or the rep (the uploader or a manager), or the speakers' names."""
        call = self.get_object()
        changes = serializers.CallUpdateSerializer(data=request.data, context={"call": call})
        changes.is_valid(raise_exception=True)
        if "rep" in changes.validated_data:
            _check_changeable(call, request.user, "name the rep of")
            try:
                services.call_set_rep(
                    call=call, user=request.user, rep=changes.validated_data["rep"]
                )
            except ValidationError as error:
                raise _validation_error(error) from error
        if "title" in changes.validated_data:
            _check_changeable(call, request.user, "rename")
            call.title = changes.validated_data["title"].strip()
            call.save(update_fields=["title"])
        if "speaker_names" in changes.validated_data:
            try:
                call.rename_speakers(changes.validated_data["speaker_names"])
            except ValidationError as error:
                raise _validation_error(error) from error
        return Response(self.get_serializer(call).data)

    def perform_destroy(self, call: Call) -> None:
        _check_changeable(call, self.request.user, "delete")
        call.delete()

    @extend_schema(request=None, responses={202: serializers.CallSerializer})
    @action(detail=True, methods=["post"])
    def retranscribe(self, request, uuid=None):
        """Transcribe a finished call again, from the start."""
        call = self.get_object()
        _check_changeable(call, request.user, "transcribe again")
        try:
            queued = services.call_retranscribe(call)
        except ValidationError as error:  # its recording was deleted
            raise Conflict(" ".join(error.messages)) from error
        if not queued:
            raise Conflict("This call is still being transcribed: cancel it first.")
        return Response(self.get_serializer(call).data, status=status.HTTP_202_ACCEPTED)

    @extend_schema(request=None, responses=serializers.CallSerializer)
    @action(detail=True, methods=["post"])
    def cancel(self, request, uuid=None):
        """Stop a queued or running transcription."""
        call = self.get_object()
        _check_changeable(call, request.user, "cancel")
        if not call.cancel():
            raise Conflict("This call has already finished.")
        return Response(self.get_serializer(call).data)

    def _transcribed(self) -> Call:
        call = self.get_object()
        if call.status != Call.Status.DONE:
            raise Conflict("This call is not transcribed (yet).")
        return call

    @extend_schema(responses=serializers.TranscriptSerializer)
    @action(detail=True, methods=["get"])
    def transcript(self, request, uuid=None):
        """The transcript: segments with speaker, timings, words and confidence."""
        call = self._transcribed()
        return Response(serializers.TranscriptSerializer(call).data)

    @extend_schema(responses=OpenApiTypes.OBJECT)
    @action(detail=True, methods=["get"])
    def analytics(self, request, uuid=None):
        """Talk time, questions, monologues and tracker hits, as on the call's page. After a
        correction or a change of trackers they are the last figures until a worker updates them."""
        call = self._transcribed()
        services.call_request_analytics(call)
        if call.analytics is None:
            raise Conflict("The analytics are being computed: try again in a few seconds.")
        return Response(call.analytics)

    @extend_schema(responses=serializers.TrackerHitSerializer(many=True))
    @action(detail=True, methods=["get"], url_path="tracker-hits")
    def tracker_hits(self, request, uuid=None):
        """Where the team's trackers' phrases were said in this call."""
        call = self._transcribed()
        services.call_request_analytics(call)
        hits = call.tracker_hits.select_related("tracker", "segment").order_by("start")
        return Response(serializers.TrackerHitSerializer(hits, many=True).data)

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "format",
                str,
                enum=[*exports.EXPORT_FORMATS],
                description="The file's format; or ask for it with an Accept header.",
            )
        ],
        responses={
            (200, spec.content_type.split(";")[0]): OpenApiTypes.BINARY
            for spec in exports.EXPORT_FORMATS.values()
        },
    )
    @action(
        detail=True,
        methods=["get"],
        renderer_classes=[],  # set below, one per export format
    )
    def export(self, request, uuid=None):
        """The transcript as a file: TXT, SRT, VTT, JSON or DOCX."""
        call = self._transcribed()
        services.call_request_analytics(call)
        format = request.accepted_renderer.format
        content = exports.render(format, call.segments.all(), **call.export_details())
        spec = exports.EXPORT_FORMATS[format]
        return Response(
            content,
            headers={
                "Content-Disposition": content_disposition_header(
                    True, f"{export_name(call)}.{spec.extension}"
                )
            },
        )


class ExportRenderer(renderers.BaseRenderer):
    """Passes an export through as it is; an error (a dict) is written as JSON."""

    charset = None

    def render(self, data, accepted_media_type=None, renderer_context=None):
        if isinstance(data, bytes):
            return data
        return renderers.JSONRenderer().render(data)


def _export_renderer(format: str) -> type[ExportRenderer]:
    spec = exports.EXPORT_FORMATS[format]
    return type(
        f"{format.title()}ExportRenderer",
        (ExportRenderer,),
        {"media_type": spec.content_type.split(";")[0], "format": format},
    )


CallViewSet.export.kwargs["renderer_classes"] = [
    _export_renderer(format) for format in exports.EXPORT_FORMATS
]


# --- Search -------------------------------------------------------------------------------------


class PagePagination(pagination.PageNumberPagination):
    page_size = 20


@extend_schema(
    tags=["calls"],
    parameters=[
        OpenApiParameter("q", str, required=True, description='Words, or a "quoted phrase".'),
        OpenApiParameter("team", str, description="A team's slug: only its calls."),
    ],
    responses=serializers.SearchResultSerializer(many=True),
)
class SearchView(APIView):
    """Transcribed calls whose words, title, speakers or trackers match, best first."""

    def get(self, request):
        query = " ".join(selectors.query_text(request.query_params, "q").split())[:200]
        team_slug = selectors.query_text(request.query_params, "team")
        team = selectors.team_for_user(request.user, team_slug) if team_slug else None
        results = selectors.search_calls(request.user, query, team=team) if query else []
        paginator = PagePagination()
        page = paginator.paginate_queryset(results, request, view=self)
        data = serializers.SearchResultSerializer(page, many=True, context={"request": request})
        return paginator.get_paginated_response(data.data)


# --- Webhooks (a team's managers) -------------------------------------------------------------


class ManagedTeamMixin:
    """Webhooks are a team's managers' business: members get 403, outsiders 404."""

    def team(self):
        return team_managed_by(self.request, self.kwargs["team_slug"])


@extend_schema(tags=["webhooks"])
class WebhookEndpointViewSet(ManagedTeamMixin, viewsets.ModelViewSet):
    """Where the team's call.done, call.failed and call.deleted events are sent."""

    serializer_class = serializers.WebhookEndpointSerializer
    pagination_class = None
    queryset = None
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return WebhookEndpoint.objects.none()
        return self.team().webhook_endpoints.all()

    def perform_create(self, serializer) -> None:
        serializer.save(team=self.team(), created_by=self.request.user)


@extend_schema(tags=["webhooks"])
class WebhookDeliveryViewSet(ManagedTeamMixin, viewsets.ReadOnlyModelViewSet):
    """The log of the team's webhook deliveries, newest first."""

    serializer_class = serializers.WebhookDeliverySerializer
    pagination_class = PagePagination
    queryset = None

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return WebhookDelivery.objects.none()
        return WebhookDelivery.objects.filter(endpoint__team=self.team())

    @extend_schema(
        request=None,
        responses={
            202: serializers.WebhookDeliverySerializer,
            409: OpenApiResponse(description="Still pending or retrying."),
        },
    )
    @action(detail=True, methods=["post"])
    def resend(self, request, team_slug=None, pk=None):
        """Send the delivery again (a new round of attempts, with the same webhook-id), once
        its round is over: 409 while it is pending or retrying."""
        delivery = self.get_object()
        if not webhooks.send_again(delivery):
            raise Conflict(webhooks.STILL_BEING_TRIED)
        return Response(self.get_serializer(delivery).data, status=status.HTTP_202_ACCEPTED)
