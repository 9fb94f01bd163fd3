from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from api.urls import api_patterns, profile_patterns, webhook_patterns
from transcripts.throttling import limit_login_rate
from transcripts.views import accounts
from transcripts.views.health import healthz

urlpatterns = [
    path("login/", limit_login_rate(auth_views.LoginView.as_view()), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("accounts/reset/", accounts.PasswordResetView.as_view(), name="password_reset"),
    path(
        "accounts/reset/sent/",
        auth_views.PasswordResetDoneView.as_view(),
        name="password_reset_done",
    ),
    path(
        "accounts/reset/<uidb64>/<token>/",
        accounts.PasswordResetConfirmView.as_view(),
        name="password_reset_confirm",
    ),
    path(
        "accounts/reset/done/",
        auth_views.PasswordResetCompleteView.as_view(),
        name="password_reset_complete",
    ),
    path("healthz", healthz, name="healthz"),
    path("admin/", admin.site.urls),
    path("api/", include((api_patterns, "api"))),
    path("profile/api/", include((profile_patterns, "profile"))),
    path("teams/<slug:slug>/webhooks/", include((webhook_patterns, "webhooks"))),
    path("", include("transcripts.urls")),
]
