from django.urls import path

from . import views

app_name = "transcripts"

urlpatterns = [
    path("", views.call_list, name="call_list"),
    path("calls/upload/", views.call_upload, name="call_upload"),
    path("calls/<uuid:uuid>/", views.call_detail, name="call_detail"),
    path("calls/<uuid:uuid>/progress/", views.call_progress, name="call_progress"),
    path("calls/<uuid:uuid>/row/", views.call_row, name="call_row"),
    path("calls/<uuid:uuid>/audio/", views.call_audio, name="call_audio"),
    path("calls/<uuid:uuid>/retranscribe/", views.call_retranscribe, name="call_retranscribe"),
    path("calls/<uuid:uuid>/delete/", views.call_delete, name="call_delete"),
]
