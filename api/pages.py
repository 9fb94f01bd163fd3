"""The portal's pages for the API: one's tokens and notices, and a team's webhooks."""

from __future__ import annotations

from datetime import timedelta

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from transcripts.views.teams import team_managed_by

from . import webhooks
from .forms import NoticeForm, TokenForm, WebhookEndpointForm
from .models import ApiToken, NoticePreference, WebhookDelivery, WebhookEndpoint


@require_GET
def profile(request: HttpRequest) -> HttpResponse:
    preference = NoticePreference.objects.filter(user=request.user).first()
    context = {
        "tokens": request.user.api_tokens.all(),
        "form": TokenForm(),
        "notice_form": NoticeForm(instance=preference),
        "has_email": bool(request.user.email),
        # Shown once, right after it is made: only its hash is kept.
        "new_token": request.session.pop("new_api_token", None),
    }
    return render(request, "api/profile.html", context)


@require_POST
def token_create(request: HttpRequest) -> HttpResponse:
    form = TokenForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Give the token a name (and a number of days, if it expires).")
        return redirect("profile:detail")
    days = form.cleaned_data["expires_in_days"]
    expires_at = timezone.now() + timedelta(days=days) if days else None
    try:
        token, secret = ApiToken.issue(request.user, form.cleaned_data["name"], expires_at)
    except ValidationError as refusal:
        messages.error(request, " ".join(refusal.messages))
        return redirect("profile:detail")
    request.session["new_api_token"] = {"name": token.name, "secret": secret}
    return redirect("profile:detail")


@require_POST
def token_revoke(request: HttpRequest, token_id: int) -> HttpResponse:
    token = get_object_or_404(ApiToken, pk=token_id, user=request.user)
    token.revoke()
    messages.success(request, f"“{token.name}” is revoked: it no longer works.")
    return redirect("profile:detail")


@require_POST
def notices(request: HttpRequest) -> HttpResponse:
    preference, _ = NoticePreference.objects.get_or_create(user=request.user)
    form = NoticeForm(request.POST, instance=preference)
    if form.is_valid():
        form.save()
        messages.success(request, "Saved.")
    return redirect("profile:detail")


@require_POST
def endpoint_add(request: HttpRequest, slug: str) -> HttpResponse:
    team = team_managed_by(request, slug)
    form = WebhookEndpointForm(request.POST)
    if form.is_valid():
        endpoint = form.save(commit=False)
        endpoint.team, endpoint.created_by = team, request.user
        endpoint.save()
        messages.success(request, f"Webhooks will be sent to {endpoint.url}.")
    else:
        errors = [message for field in form.errors.values() for message in field]
        messages.error(request, " ".join(errors))
    return redirect(f"{team.get_absolute_url()}#webhooks")


@require_POST
def endpoint_delete(request: HttpRequest, slug: str, endpoint_id: int) -> HttpResponse:
    team = team_managed_by(request, slug)
    endpoint = get_object_or_404(WebhookEndpoint, pk=endpoint_id, team=team)
    endpoint.delete()
    messages.success(request, f"No more webhooks to {endpoint.url}.")
    return redirect(f"{team.get_absolute_url()}#webhooks")


@require_POST
def delivery_resend(request: HttpRequest, slug: str, delivery_id: int) -> HttpResponse:
    team = team_managed_by(request, slug)
    delivery = get_object_or_404(WebhookDelivery, pk=delivery_id, endpoint__team=team)
    if webhooks.send_again(delivery):
        messages.success(request, f"The {delivery.event} webhook will be sent again.")
    else:
        messages.error(request, webhooks.STILL_BEING_TRIED)
    return redirect(f"{team.get_absolute_url()}#webhooks")
