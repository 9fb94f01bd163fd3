"""E-mail notices: the uploader hears when a call is done or failed (NoticePreference)."""

from __future__ import annotations

from django.conf import settings
from django.core.mail import send_mail
from django.urls import reverse

from transcripts import selectors
from transcripts.models import Call

from .models import NoticePreference
from .webhooks import absolute


def notice_for(call: Call) -> tuple[str, str] | None:
    """(subject, body) of the e-mail about a finished call, or None when none is due."""
    user = call.uploaded_by
    if user is None or not user.email or not NoticePreference.wants_email(user):
        return None
    if not uploader_still_sees(call):
        return None
    link = absolute(call.get_absolute_url())
    if call.status == Call.Status.DONE:
        subject = f"Transcribed: {call.display_title}"
        body = f"“{call.display_title}” is transcribed.\n\nRead it here: {link}\n"
    elif call.status == Call.Status.FAILED:
        subject = f"Could not transcribe: {call.display_title}"
        body = (
            f"“{call.display_title}” could not be transcribed:\n\n{call.error}\n\n"
            f"The call: {link}\n"
        )
    else:
        return None
    footer = "\n--\nYou get these e-mails for calls you upload; turn them off on your profile: "
    return subject, body + footer + absolute(reverse("profile:detail")) + "\n"


def uploader_still_sees(call: Call) -> bool:
    """Whether the uploader is still in the call's team. Someone removed since the upload must
    not be mailed its title, error or link: they are the team's, no longer theirs to see."""
    user = call.uploaded_by
    return user is not None and selectors.calls_for_user(user).filter(pk=call.pk).exists()


def send_call_notice(call: Call) -> bool:
    notice = notice_for(call)
    if notice is None:
        return False
    subject, body = notice
    send_mail(subject, body, settings.DEFAULT_FROM_EMAIL, [call.uploaded_by.email])
    return True
