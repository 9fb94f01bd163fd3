from django import forms
from django.conf import settings

from .models import Call, Membership, Team, Tracker
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


# --- Speakers, transcript lines and trackers ------------------------------------------------


class SpeakerNamesForm(forms.Form):
    """Names for the two speakers of a dual-channel call; blank keeps "Rep" or "Customer"."""

    rep = forms.CharField(label="Rep", max_length=100, required=False)
    customer = forms.CharField(label="Customer", max_length=100, required=False)


class SegmentTextForm(forms.Form):
    text = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), max_length=5000)


class PhrasesField(forms.CharField):
    """Phrases one per line (or separated by commas), as a list without repeats."""

    widget = forms.Textarea(attrs={"rows": 6})
    max_phrases = 100

    def prepare_value(self, value):
        return "\n".join(value) if isinstance(value, list) else value

    def to_python(self, value) -> list[str]:
        text = super().to_python(value) or ""
        phrases, seen = [], set()
        for piece in text.replace(",", "\n").splitlines():
            phrase = " ".join(piece.split())
            if phrase and phrase.casefold() not in seen:
                seen.add(phrase.casefold())
                phrases.append(phrase)
        return phrases

    def validate(self, value: list[str]) -> None:
        if not value:
            raise forms.ValidationError("Give at least one word or phrase.")
        if len(value) > self.max_phrases:
            raise forms.ValidationError(f"A tracker can have up to {self.max_phrases} phrases.")
        if any(len(phrase) > 100 for phrase in value):
            raise forms.ValidationError("Keep each phrase under 100 characters.")

    def run_validators(self, value) -> None:
        # CharField's length validators would measure the list, not the text.
        pass


class TrackerForm(forms.ModelForm):
    phrases = PhrasesField(
        help_text="One per line. Whole words, any case: “price” does not find “prices”, "
        "so list both."
    )

    class Meta:
        model = Tracker
        fields = ["name", "phrases"]

    def __init__(self, *args, team: Team, **kwargs):
        super().__init__(*args, **kwargs)
        self.team = team

    def clean_name(self) -> str:
        name = " ".join(self.cleaned_data["name"].split())
        taken = self.team.trackers.filter(name__iexact=name).exclude(pk=self.instance.pk)
        if taken.exists():
            raise forms.ValidationError("The team already has a tracker with this name.")
        return name


class TeamRecordingForm(forms.ModelForm):
    class Meta:
        model = Team
        fields = ["rep_channel"]
        widgets = {"rep_channel": forms.RadioSelect}


class TeamVocabularyForm(forms.ModelForm):
    class Meta:
        model = Team
        fields = ["vocabulary"]
        widgets = {"vocabulary": forms.Textarea(attrs={"rows": 3, "placeholder": "Acme, Zentrix"})}


class CallFilterForm(forms.Form):
    """The call list's filters and order, from the query string."""

    SORTS = [
        ("-created", "Newest first"),
        ("created", "Oldest first"),
        ("title", "Title A-Z"),
        ("-title", "Title Z-A"),
        ("-duration", "Longest first"),
        ("duration", "Shortest first"),
        ("status", "Status"),
        ("-status", "Status, reversed"),
    ]

    status = forms.ChoiceField(choices=[("", "Any status"), *Call.Status.choices], required=False)
    uploader = forms.ModelChoiceField(
        queryset=None, required=False, empty_label="Anyone", label="Uploaded by"
    )
    date_from = forms.DateField(
        required=False, label="From", widget=forms.DateInput(attrs={"type": "date"})
    )
    date_to = forms.DateField(
        required=False, label="To", widget=forms.DateInput(attrs={"type": "date"})
    )
    sort = forms.ChoiceField(choices=SORTS, required=False)

    def __init__(self, *args, uploaders, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["uploader"].queryset = uploaders

    def filters(self) -> dict:
        """What to pass to selectors.filter_calls; an invalid field is ignored, not an error."""
        self.is_valid()
        data = {
            name: self.cleaned_data.get(name) for name in self.fields if name not in self.errors
        }
        return {
            "status": data.get("status") or "",
            "uploader": data.get("uploader"),
            "date_from": data.get("date_from"),
            "date_to": data.get("date_to"),
            "sort": data.get("sort") or "-created",
        }
