from django.urls import path

from .views import calls, teams

app_name = "transcripts"

urlpatterns = [
    path("", calls.call_list, name="call_list"),
    path("calls/upload/", calls.call_upload, name="call_upload"),
    path("calls/<uuid:uuid>/", calls.call_detail, name="call_detail"),
    path("calls/<uuid:uuid>/progress/", calls.call_progress, name="call_progress"),
    path("calls/<uuid:uuid>/row/", calls.call_row, name="call_row"),
    path("calls/<uuid:uuid>/audio/", calls.call_audio, name="call_audio"),
    path("calls/<uuid:uuid>/retranscribe/", calls.call_retranscribe, name="call_retranscribe"),
    path("calls/<uuid:uuid>/cancel/", calls.call_cancel, name="call_cancel"),
    path("calls/<uuid:uuid>/rename/", calls.call_rename, name="call_rename"),
    path("calls/<uuid:uuid>/delete/", calls.call_delete, name="call_delete"),
    path("teams/switch/", teams.team_switch, name="team_switch"),
    path("teams/<slug:slug>/", teams.team_detail, name="team_detail"),
    path("teams/<slug:slug>/members/", teams.member_add, name="member_add"),
    path(
        "teams/<slug:slug>/members/<int:membership_id>/remove/",
        teams.member_remove,
        name="member_remove",
    ),
]
