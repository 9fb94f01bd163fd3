"""How the API shows teams, calls, transcripts and webhooks, and what it accepts."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from transcripts.forms import UploadForm
from transcripts.models import Call, Quality, Segment, Team, Tracker, TrackerHit
from transcripts.speakers import MAX_SPEAKERS, ROLES

from . import outbound
from .models import Event, WebhookDelivery, WebhookEndpoint


class TeamSerializer(serializers.ModelSerializer):
    role = serializers.SerializerMethodField()

    class Meta:
        model = Team
        fields = ["slug", "name", "rep_channel", "role"]

    def get_role(self, team: Team) -> str:
        user = self.context["request"].user
        membership = next((m for m in team.memberships.all() if m.user_id == user.pk), None)
        return membership.role if membership else ""


class CallSerializer(serializers.ModelSerializer):
    id = serializers.UUIDField(source="uuid", read_only=True)
    team = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    uploaded_by = serializers.SlugRelatedField(slug_field="username", read_only=True)
    rep = serializers.SlugRelatedField(
        slug_field="username", read_only=True, help_text="The team member who led the call."
    )
    percent = serializers.IntegerField(read_only=True)
    eta_seconds = serializers.FloatField(read_only=True, allow_null=True)
    source_url = serializers.SerializerMethodField()
    import_status = serializers.SerializerMethodField(
        help_text="For a call imported by URL: downloading, done or failed."
    )
    links = serializers.SerializerMethodField()

    class Meta:
        model = Call
        fields = [
            "id",
            "team",
            "title",
            "display_title",
            "original_filename",
            "uploaded_by",
            "rep",
            "created_at",
            "status",
            "stage",
            "progress",
            "percent",
            "eta_seconds",
            "error",
            "duration",
            "size_bytes",
            "finished_at",
            "channel_layout",
            "speakers_expected",
            "voice_count",
            "rep_voice",
            "speaker_names",
            "quality",
            "engine",
            "model_name",
            "source_url",
            "import_status",
            "links",
        ]
        read_only_fields = fields

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_source_url(self, call: Call) -> str | None:
        url_import = getattr(call, "url_import", None)
        return url_import.url if url_import else None

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_import_status(self, call: Call) -> str | None:
        url_import = getattr(call, "url_import", None)
        return url_import.status if url_import else None

    @extend_schema_field(serializers.DictField(child=serializers.URLField()))
    def get_links(self, call: Call) -> dict[str, str]:
        from django.urls import reverse

        request = self.context["request"]
        links = {
            "self": reverse("api:call-detail", args=[call.uuid]),
            "web": call.get_absolute_url(),
        }
        if call.status == Call.Status.DONE:
            links["transcript"] = reverse("api:call-transcript", args=[call.uuid])
            links["export"] = reverse("api:call-export", args=[call.uuid])
        return {name: request.build_absolute_uri(path) for name, path in links.items()}


class CallCreateSerializer(serializers.Serializer):
    """A recording uploaded (multipart, `audio`) or a URL for a worker to download (`url`)."""

    audio = serializers.FileField(required=False)
    url = serializers.URLField(required=False, max_length=2000)
    title = serializers.CharField(required=False, allow_blank=True, max_length=200)
    team = serializers.SlugField(
        required=False, help_text="The team's slug; may be left out by people in one team."
    )
    rep = serializers.CharField(
        required=False,
        allow_blank=True,
        help_text="Username of the team member who led the call (default: you, if in the "
        "team). Only a manager may name someone else.",
    )
    speakers_expected = serializers.IntegerField(
        required=False,
        allow_null=True,
        min_value=1,
        max_value=MAX_SPEAKERS,
        help_text="How many people speak on a mono recording, if known; left out: found.",
    )
    quality = serializers.ChoiceField(
        choices=Quality.choices,
        required=False,
        allow_blank=True,
        help_text="fast (tiny.en) or accurate (base); left out: the team's setting. Accurate is "
        "refused where its model is not installed (GET /settings/ on the portal shows it).",
    )

    def validate(self, data: dict) -> dict:
        if bool(data.get("audio")) == bool(data.get("url")):
            raise serializers.ValidationError("Send either a file (audio) or a URL (url).")
        if data.get("url"):
            try:
                outbound.check_url(data["url"])
            except outbound.OutboundError as error:
                raise serializers.ValidationError({"url": str(error)}) from error
        # The portal's upload form decides the team and checks the file, so both agree.
        teams = self.context["teams"]
        form = UploadForm(
            {
                "title": data.get("title", ""),
                "team": _team_pk(teams, data.get("team")),
                "rep": data.get("rep") or "",
                "speakers_expected": data.get("speakers_expected") or "",
                "quality": data.get("quality", ""),
            },
            {"audio": data["audio"]} if data.get("audio") else {},
            teams=teams,
            user=self.context["request"].user,
        )
        form.is_valid()
        errors = {k: v for k, v in form.errors.items() if not (k == "audio" and data.get("url"))}
        if errors:
            raise serializers.ValidationError({k: list(v) for k, v in errors.items()})
        data["team"] = form.cleaned_data["team"]
        data["rep"] = form.cleaned_data["rep"]
        data["quality"] = form.cleaned_data["quality"]
        return data


def _team_pk(teams, slug: str | None):
    if not slug:
        return None
    team = teams.filter(slug=slug).first()
    # An unknown slug is given as an impossible choice, so the form says it is not valid.
    return team.pk if team else 0


class CallUpdateSerializer(serializers.Serializer):
    title = serializers.CharField(required=False, allow_blank=True, max_length=200)
    rep = serializers.CharField(
        required=False,
        allow_blank=True,
        allow_null=True,
        help_text="Username of the team member who led the call; blank or null: nobody. The "
        "uploader or a manager; only a manager may name someone else.",
    )
    speaker_names = serializers.DictField(
        child=serializers.CharField(allow_blank=True, max_length=100),
        required=False,
        help_text=f"Names of the speakers: by role ({', '.join(ROLES)}) on a dual-channel call, "
        'by voice number ("0", "1"...) on one told apart by voice; blank restores the '
        "default.",
    )

    def validate_speaker_names(self, names: dict) -> dict:
        call = self.context["call"]
        if call.has_voices:
            known = {str(voice) for voice in range(call.voice_count)}
            if set(names) - known:
                raise serializers.ValidationError(
                    f"This call's speakers are voices {', '.join(sorted(known))}."
                )
        elif set(names) - set(ROLES):
            raise serializers.ValidationError(f"Roles are {', '.join(ROLES)}.")
        return names

    def validate_rep(self, username: str | None):
        if not username:
            return None
        call = self.context["call"]
        rep = call.team.members.filter(username=username).first()
        if rep is None:
            raise serializers.ValidationError(f"{username} is not in {call.team.name}.")
        return rep


class WordSerializer(serializers.Serializer):
    word = serializers.CharField()
    start = serializers.FloatField()
    end = serializers.FloatField()
    probability = serializers.FloatField(required=False)


class SegmentSerializer(serializers.ModelSerializer):
    voice = serializers.IntegerField(
        read_only=True,
        allow_null=True,
        help_text="On a call told apart by voice: the voice the line is given to now.",
    )
    machine_voice = serializers.IntegerField(
        read_only=True, allow_null=True, help_text="The voice diarization gave the line."
    )
    confidence = serializers.FloatField(read_only=True, allow_null=True)
    edited = serializers.BooleanField(source="is_edited", read_only=True)
    words = WordSerializer(many=True, read_only=True)

    class Meta:
        model = Segment
        fields = [
            "index",
            "start",
            "end",
            "speaker",
            "voice",
            "machine_voice",
            "channel",
            "text",
            "original_text",
            "edited",
            "decoded_by",
            "first_pass_text",
            "confidence",
            "avg_logprob",
            "no_speech_prob",
            "words",
        ]


class VoiceSerializer(serializers.Serializer):
    voice = serializers.IntegerField()
    name = serializers.CharField()
    is_rep = serializers.BooleanField()


class TranscriptSerializer(serializers.Serializer):
    call = serializers.UUIDField(source="uuid")
    language = serializers.SerializerMethodField()
    duration = serializers.FloatField(allow_null=True)
    has_speakers = serializers.BooleanField()
    rep = serializers.CharField(
        source="rep.username",
        read_only=True,
        allow_null=True,
        default=None,
        help_text="Username of the team member who led the call.",
    )
    voices = serializers.SerializerMethodField()
    transcribed_with = serializers.SerializerMethodField(
        help_text="quality (fast or accurate), engine, model, second_pass (its settings, or "
        "null), lines_decoded_again and a readable summary."
    )
    segments = SegmentSerializer(many=True, source="segments.all")

    @extend_schema_field(serializers.DictField())
    def get_transcribed_with(self, call: Call) -> dict:
        return call.transcribed_with()

    def get_language(self, call: Call) -> str | None:
        return (call.decode_options or {}).get("language")

    @extend_schema_field(VoiceSerializer(many=True))
    def get_voices(self, call: Call) -> list[dict]:
        """The speakers told apart by voice (empty when they were not)."""
        return [
            {"voice": voice, "name": name, "is_rep": voice == call.rep_voice}
            for voice, name in call.voice_choices()
        ]


class TrackerSerializer(serializers.ModelSerializer):
    class Meta:
        model = Tracker
        fields = ["id", "name", "phrases", "created_at"]


class TrackerHitSerializer(serializers.ModelSerializer):
    tracker = serializers.CharField(source="tracker.name")
    segment = serializers.IntegerField(source="segment.index")

    class Meta:
        model = TrackerHit
        fields = ["tracker", "phrase", "speaker", "start", "segment"]


class SearchLineSerializer(serializers.Serializer):
    start = serializers.FloatField()
    text = serializers.CharField()
    speaker = serializers.CharField()
    tracker = serializers.CharField()


class SearchResultSerializer(serializers.Serializer):
    call = CallSerializer()
    lines = SearchLineSerializer(many=True)
    line_count = serializers.IntegerField()
    title_match = serializers.BooleanField()
    speakers = serializers.ListField(child=serializers.CharField())
    score = serializers.FloatField()


class WebhookEndpointSerializer(serializers.ModelSerializer):
    events = serializers.ListField(
        child=serializers.ChoiceField(choices=Event.choices), allow_empty=False, required=False
    )
    secret = serializers.CharField(
        read_only=True, help_text="Verify each delivery's webhook-signature with it."
    )

    class Meta:
        model = WebhookEndpoint
        fields = ["id", "url", "events", "description", "is_active", "secret", "created_at"]
        read_only_fields = ["id", "secret", "created_at"]

    def validate_url(self, url: str) -> str:
        try:
            _, host, port, _ = outbound.check_url(url)
            outbound.checked_address(host, port)
        except outbound.OutboundError as error:
            raise serializers.ValidationError(str(error)) from error
        return url

    def validate_events(self, events: list[str]) -> list[str]:
        return sorted(set(events))


class WebhookDeliverySerializer(serializers.ModelSerializer):
    endpoint = serializers.IntegerField(source="endpoint_id", read_only=True)

    class Meta:
        model = WebhookDelivery
        fields = [
            "id",
            "endpoint",
            "message_id",
            "event",
            "status",
            "attempts",
            "response_status",
            "error",
            "created_at",
            "last_attempt_at",
            "next_attempt_at",
            "payload",
        ]
        read_only_fields = fields
