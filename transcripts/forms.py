from django import forms
from django.conf import settings

from .models import Membership, Team
from .speech.audio import EMPTY_FILE

ACCEPTED_EXTENSIONS = (".mp3", ".wav", ".m4a", ".ogg", ".oga", ".opus", ".webm", ".mp4", ".flac")


class UploadForm(forms.Form):
    audio = forms.FileField(
        label="Recording",
        help_text="An audio or video file: MP3, WAV, M4A, OGG, WebM, MP4 or FLAC.",
        widget=forms.ClearableFileInput(attrs={"accept": ",".join(ACCEPTED_EXTENSIONS)}),
        error_messages={"empty": EMPTY_FILE},
    )
    title = forms.CharField(max_length=200, required=False)
    team = forms.ModelChoiceField(queryset=Team.objects.none(), empty_label=None)

    def __init__(self, *args, teams, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["team"].queryset = teams
        self.only_team = teams.first() if teams.count() == 1 else None
        if self.only_team:
            # Nothing to choose: the field is hidden and the only team is used.
            self.fields["team"].widget = forms.HiddenInput()
            self.fields["team"].required = False

    def clean_team(self):
        return self.cleaned_data.get("team") or self.only_team

    def clean_audio(self):
        upload = self.cleaned_data["audio"]
        if upload.size > settings.MAX_UPLOAD_BYTES:
            raise forms.ValidationError(
                f"This file is larger than the {settings.MAX_UPLOAD_MB} MB limit."
            )
        return upload


class MemberAddForm(forms.Form):
    identifier = forms.CharField(
        label="Username or email",
        max_length=254,
        help_text="Someone new gets an account and a link to choose their password.",
    )
    role = forms.ChoiceField(choices=Membership.Role.choices, initial=Membership.Role.MEMBER)


class CallTitleForm(forms.Form):
    title = forms.CharField(max_length=200, required=False)
