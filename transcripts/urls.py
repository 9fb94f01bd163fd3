from django.urls import path

from .views import (
    call_panels,
    calls,
    configuration,
    dashboard,
    export,
    invitations,
    search,
    speakers,
    teams,
    trackers,
    transcript,
    voice,
)

app_name = "transcripts"

urlpatterns = [
    path("", calls.call_list, name="call_list"),
    path("settings/", configuration.transcription_settings, name="settings"),
    path("calls/upload/", calls.call_upload, name="call_upload"),
    path("calls/<uuid:uuid>/", calls.call_detail, name="call_detail"),
    path("calls/<uuid:uuid>/progress/", calls.call_progress, name="call_progress"),
    path("calls/<uuid:uuid>/row/", calls.call_row, name="call_row"),
    path("calls/<uuid:uuid>/audio/", calls.call_audio, name="call_audio"),
    path("calls/<uuid:uuid>/retranscribe/", calls.call_retranscribe, name="call_retranscribe"),
    path(
        "calls/<uuid:uuid>/retranscribe/confirm/",
        calls.call_retranscribe_confirm,
        name="call_retranscribe_confirm",
    ),
    path("calls/<uuid:uuid>/cancel/", calls.call_cancel, name="call_cancel"),
    path("calls/<uuid:uuid>/rename/", calls.call_rename, name="call_rename"),
    path("calls/<uuid:uuid>/delete/", calls.call_delete, name="call_delete"),
    path("calls/<uuid:uuid>/hold/", calls.call_hold, name="call_hold"),
    # A transcribed call: its analysis, speakers, lines and exports.
    path("calls/<uuid:uuid>/insights/", call_panels.call_insights, name="call_insights"),
    path("calls/<uuid:uuid>/transcript/", transcript.call_transcript, name="call_transcript"),
    path("calls/<uuid:uuid>/lines/<int:index>/", transcript.segment_detail, name="segment_detail"),
    path("calls/<uuid:uuid>/lines/<int:index>/edit/", transcript.segment_edit, name="segment_edit"),
    path(
        "calls/<uuid:uuid>/lines/<int:index>/restore/",
        transcript.segment_restore,
        name="segment_restore",
    ),
    path(
        "calls/<uuid:uuid>/lines/<int:index>/speaker/",
        speakers.line_speaker,
        name="line_speaker",
    ),
    path("calls/<uuid:uuid>/rep/", calls.call_rep, name="call_rep"),
    path("calls/<uuid:uuid>/speakers/", speakers.call_speakers, name="call_speakers"),
    path("calls/<uuid:uuid>/speakers/merge/", speakers.call_merge_voices, name="call_merge_voices"),
    path("calls/<uuid:uuid>/speakers/rep/", speakers.call_rep_voice, name="call_rep_voice"),
    path(
        "calls/<uuid:uuid>/speakers/restore/",
        speakers.call_restore_voices,
        name="call_restore_voices",
    ),
    path(
        "calls/<uuid:uuid>/speakers/swap/", speakers.call_swap_speakers, name="call_swap_speakers"
    ),
    path("calls/<uuid:uuid>/export/<str:format>/", export.call_export, name="call_export"),
    path("search/", search.search, name="search"),
    path("profile/voice/", voice.voice_print, name="voice_print"),
    path("profile/voice/enrol/", voice.voice_enrol, name="voice_enrol"),
    path("profile/voice/delete/", voice.voice_print_delete, name="voice_print_delete"),
    path("dashboard/", dashboard.dashboard, name="dashboard"),
    path("teams/", teams.team_list, name="team_list"),
    path("teams/switch/", teams.team_switch, name="team_switch"),
    path("teams/<slug:slug>/", teams.team_detail, name="team_detail"),
    path("teams/<slug:slug>/rename/", teams.team_rename, name="team_rename"),
    path("teams/<slug:slug>/invitations/", invitations.invitation_create, name="invitation_create"),
    path(
        "teams/<slug:slug>/invitations/<int:invitation_id>/resend/",
        invitations.invitation_resend,
        name="invitation_resend",
    ),
    path(
        "teams/<slug:slug>/invitations/<int:invitation_id>/revoke/",
        invitations.invitation_revoke,
        name="invitation_revoke",
    ),
    path("invitations/<str:token>/", invitations.invitation_accept, name="invitation_accept"),
    path(
        "teams/<slug:slug>/members/<int:membership_id>/remove/",
        teams.member_remove,
        name="member_remove",
    ),
    path(
        "teams/<slug:slug>/members/<int:membership_id>/role/",
        teams.member_role,
        name="member_role",
    ),
    path("teams/<slug:slug>/recording/", speakers.team_recording, name="team_recording"),
    path("teams/<slug:slug>/vocabulary/", teams.team_vocabulary, name="team_vocabulary"),
    path("teams/<slug:slug>/quality/", teams.team_quality, name="team_quality"),
    path("teams/<slug:slug>/retention/", teams.team_retention, name="team_retention"),
    path("teams/<slug:slug>/export/", export.team_export, name="team_export"),
    path("teams/<slug:slug>/trackers/", trackers.tracker_list, name="tracker_list"),
    path(
        "teams/<slug:slug>/trackers/<int:tracker_id>/", trackers.tracker_edit, name="tracker_edit"
    ),
    path(
        "teams/<slug:slug>/trackers/<int:tracker_id>/delete/",
        trackers.tracker_delete,
        name="tracker_delete",
    ),
]
