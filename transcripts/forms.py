from django import forms
from django.conf import settings
from django.contrib.auth.forms import PasswordResetForm, UserChangeForm, UserCreationForm
from django.core import validators

from . import quality
from .media import SERVED_TYPES
from .models import (
    Call,
    Membership,
    Team,
    Tracker,
    line_too_long_message,
    validate_tracker_phrases,
)
from .speakers import MAX_SPEAKERS
from .speech.audio import EMPTY_FILE
from .uploads import too_large_message

# The file types the player can be served (media.SERVED_TYPES) are the ones offered for upload.
ACCEPTED_EXTENSIONS = tuple(SERVED_TYPES)


def quality_choice_label(choice: quality.Choice) -> str:
    return f"{choice.label} ({choice.model}): {choice.figures}"


class QualityRadioSelect(forms.RadioSelect):
    """Radio buttons for Fast and Accurate; one this server cannot run is shown disabled, with
    the reason beside it."""

    unavailable: dict[str, str] = {}

    def create_option(self, name, value, label, selected, index, subindex=None, attrs=None):
        option = super().create_option(name, value, label, selected, index, subindex, attrs)
        reason = self.unavailable.get(value)
        if reason:
            option["attrs"]["disabled"] = True
            option["label"] = f"{label}. Not available: {reason}"
        return option


class UploadForm(forms.Form):
    audio = forms.FileField(
        label="Recording",
        help_text="An audio or video file: MP3, WAV, M4A, OGG, WebM, MP4 or FLAC.",
        widget=forms.ClearableFileInput(attrs={"accept": ",".join(ACCEPTED_EXTENSIONS)}),
        error_messages={"empty": EMPTY_FILE},
    )
    title = forms.CharField(max_length=200, required=False)
    team = forms.ModelChoiceField(queryset=Team.objects.none(), empty_label=None)
    rep = forms.ModelChoiceField(
        queryset=None,
        required=False,
        to_field_name="username",
        empty_label="Me",
        label="Rep",
        help_text="The team member who led the call: their talk share on the dashboard, and "
        "their name on their voice.",
    )
    speakers_expected = forms.IntegerField(
        label="People on the call",
        required=False,
        min_value=1,
        max_value=MAX_SPEAKERS,
        help_text="For a recording with everyone on one channel, if you know how many speak; "
        "blank finds out.",
    )
    quality = forms.ChoiceField(
        label="Quality",
        required=False,
        widget=QualityRadioSelect,
        help_text="Accurate uses a larger model: fewer misheard words, slower.",
    )

    def __init__(self, *args, teams, user=None, **kwargs):
        from django.contrib.auth import get_user_model

        super().__init__(*args, **kwargs)
        self.user = user
        self.fields["team"].queryset = teams
        self.only_team = teams.first() if teams.count() == 1 else None
        if self.only_team:
            # Nothing to choose: the field is hidden and the only team is used.
            self.fields["team"].widget = forms.HiddenInput()
            self.fields["team"].required = False
        members = get_user_model().objects.filter(memberships__team__in=teams).distinct()
        self.fields["rep"].queryset = members.order_by("username")
        self.fields["rep"].label_from_instance = rep_label
        managed = user is not None and (
            user.is_staff
            or Membership.objects.filter(
                user=user, team__in=teams, role=Membership.Role.MANAGER
            ).exists()
        )
        if not managed:
            # Only managers name someone else as the rep: the others lead their own calls.
            self.fields["rep"].widget = forms.HiddenInput()
        self.choices = quality.choices()
        field = self.fields["quality"]
        field.choices = [(c.value, quality_choice_label(c)) for c in self.choices]
        field.widget.unavailable = {c.value: c.unavailable for c in self.choices}
        if self.only_team:
            field.initial = self.only_team.quality
        else:
            field.choices = [("", "The team's setting"), *field.choices]

    def clean_team(self):
        return self.cleaned_data.get("team") or self.only_team

    def clean(self):
        from .services import check_rep

        cleaned = super().clean()
        team = cleaned.get("team")
        if team and cleaned.get("rep") and self.user is not None:
            try:
                check_rep(team=team, user=self.user, rep=cleaned["rep"])
            except forms.ValidationError as error:
                self.add_error("rep", error)
        chosen = cleaned.get("quality") or (team.quality if team else "")
        reason = quality.unavailable_reason(chosen) if chosen else ""
        if reason:
            if not cleaned.get("quality"):
                reason = f"Your team transcribes with Accurate, but: {reason} Choose Fast."
            self.add_error("quality", reason)
        cleaned["quality"] = chosen
        return cleaned

    def clean_audio(self):
        upload = self.cleaned_data["audio"]
        if upload.size > settings.MAX_UPLOAD_BYTES:
            raise forms.ValidationError(too_large_message())
        return upload


class VoiceSampleForm(forms.Form):
    audio = forms.FileField(
        label="A recording of you talking",
        help_text="Half a minute to two minutes of you talking, alone, somewhere quiet.",
        widget=forms.ClearableFileInput(attrs={"accept": ",".join(ACCEPTED_EXTENSIONS)}),
        error_messages={"empty": EMPTY_FILE, "required": "Choose a recording of yourself."},
    )


class InvitationForm(forms.Form):
    email = forms.EmailField(
        label="Email address",
        max_length=254,
        help_text="They get an e-mail with a link to join; nobody joins a team without accepting.",
    )
    role = forms.ChoiceField(choices=Membership.Role.choices, initial=Membership.Role.MEMBER)


class TeamNameForm(forms.Form):
    name = forms.CharField(label="Team name", max_length=100)

    def clean_name(self) -> str:
        name = " ".join(self.cleaned_data["name"].split())
        if not name:
            raise forms.ValidationError("Give the team a name.")
        return name


class MemberRoleForm(forms.Form):
    role = forms.ChoiceField(choices=Membership.Role.choices)


ACCOUNT_NOT_MADE = (
    "No new account can be made with this address. If you have an account with it, log in to "
    "it, then open this link again."
)


class InvitedAccountForm(UserCreationForm):
    """A new account for the invited address: the person picks a username and a password."""

    class Meta(UserCreationForm.Meta):
        fields = ("username",)

    def __init__(self, *args, email: str, **kwargs):
        super().__init__(*args, **kwargs)
        # Set before validation, so the password may not resemble the address either.
        self.instance.email = email

    def _post_clean(self):
        from .auth import email_taken

        super()._post_clean()
        # People log in with their address too, so it names one account only. Refusing says
        # the address has one, so it is asked last, when the only other answer is a new
        # account: whoever invited the address holds the link and may probe with it.
        if not self.errors and email_taken(self.instance.email):
            self.add_error(None, ACCOUNT_NOT_MADE)


class UniqueEmailUserChangeForm(UserChangeForm):
    """The admin's user form: an address names one account (people log in with it)."""

    def clean_email(self) -> str:
        from .auth import email_taken

        email = self.cleaned_data.get("email", "").strip()
        if email and email_taken(email, excluding=self.instance):
            raise forms.ValidationError("Another account already uses this address.")
        return email


class AnyAccountPasswordResetForm(PasswordResetForm):
    """Django's reset form, also for accounts that never had a password: people added by a
    manager before invitations existed get their account through it."""

    def get_users(self, email: str):
        from django.contrib.auth import get_user_model

        return get_user_model()._default_manager.filter(email__iexact=email, is_active=True)


class CallTitleForm(forms.Form):
    title = forms.CharField(max_length=200, required=False)


def rep_label(user) -> str:
    from .speakers import person_name

    name = person_name(user)
    return name if name == user.get_username() else f"{name} ({user.get_username()})"


class CallRepForm(forms.Form):
    """The call's rep, among its team's members; blank: nobody."""

    rep = forms.ModelChoiceField(
        queryset=None, required=False, to_field_name="username", empty_label="Nobody"
    )

    def __init__(self, *args, call: Call, **kwargs):
        from django.contrib.auth import get_user_model

        super().__init__(*args, **kwargs)
        members = get_user_model().objects.filter(memberships__team=call.team)
        self.fields["rep"].queryset = members.order_by("username")
        self.fields["rep"].label_from_instance = rep_label


# --- Speakers, transcript lines and trackers ------------------------------------------------


class SpeakerNamesForm(forms.Form):
    """Names for the two speakers of a dual-channel call; blank keeps "Rep" or "Customer"."""

    rep = forms.CharField(label="Rep", max_length=100, required=False)
    customer = forms.CharField(label="Customer", max_length=100, required=False)


class VoiceField(forms.TypedChoiceField):
    """One of a diarized call's voices (by number); `new` adds the next, a new speaker."""

    def __init__(self, *, call: Call, new: bool = False, blank: str = "", **kwargs):
        choices = [(str(voice), name) for voice, name in call.voice_choices()]
        if new and call.has_voices and call.voice_count < MAX_SPEAKERS:
            choices.append((str(call.voice_count), "A new speaker"))
        if blank:
            choices.insert(0, ("", blank))
        super().__init__(
            choices=choices, coerce=int, empty_value=None, required=not blank, **kwargs
        )


class LineVoiceForm(forms.Form):
    def __init__(self, *args, call: Call, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["voice"] = VoiceField(call=call, new=True, label="Speaker")


class VoiceMergeForm(forms.Form):
    def __init__(self, *args, call: Call, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["source"] = VoiceField(call=call, label="Give every line of")
        self.fields["target"] = VoiceField(call=call, label="to")


class RepVoiceForm(forms.Form):
    def __init__(self, *args, call: Call, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["voice"] = VoiceField(
            call=call, blank="Nobody: the rep is not on this call", label="The rep's voice"
        )


class SegmentTextForm(forms.Form):
    text = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}))

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # From the settings at the time of the request, not of the import.
        field = self.fields["text"]
        field.max_length = settings.MAX_LINE_CHARS
        field.widget.attrs["maxlength"] = str(settings.MAX_LINE_CHARS)
        field.validators.append(
            validators.MaxLengthValidator(settings.MAX_LINE_CHARS, line_too_long_message())
        )


class PhrasesField(forms.CharField):
    """Phrases one per line (or separated by commas), as a list without repeats."""

    widget = forms.Textarea(attrs={"rows": 6})

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
        validate_tracker_phrases(value)

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

    def clean(self):
        if self.instance.pk is None:
            # The team is not on the instance yet: the view sets it after validation.
            self.team.check_room_for_a_tracker()
        return super().clean()

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


class TeamQualityForm(forms.ModelForm):
    class Meta:
        model = Team
        fields = ["quality"]
        widgets = {"quality": QualityRadioSelect}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        choices = quality.choices()
        field = self.fields["quality"]
        field.choices = [(c.value, quality_choice_label(c)) for c in choices]
        field.widget.unavailable = {c.value: c.unavailable for c in choices}

    def clean_quality(self) -> str:
        chosen = self.cleaned_data["quality"]
        reason = quality.unavailable_reason(chosen)
        if reason:
            raise forms.ValidationError(reason)
        return chosen


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


class TeamRetentionForm(forms.ModelForm):
    class Meta:
        model = Team
        fields = ["audio_retention_days", "transcript_retention_days"]
