from django import forms

from . import outbound
from .models import Event, NoticePreference, WebhookEndpoint


class TokenForm(forms.Form):
    name = forms.CharField(max_length=100, help_text="What uses it, e.g. “Aircall export”.")
    expires_in_days = forms.IntegerField(
        label="Expires after (days)",
        min_value=1,
        max_value=3650,
        required=False,
        help_text="Leave empty for a token that lasts until you revoke it.",
    )


class NoticeForm(forms.ModelForm):
    class Meta:
        model = NoticePreference
        fields = ["email_when_finished"]
        labels = {"email_when_finished": "E-mail me when a call I uploaded is done or failed"}


class WebhookEndpointForm(forms.ModelForm):
    url = forms.URLField(label="URL", max_length=2000, assume_scheme="https")
    events = forms.MultipleChoiceField(
        choices=Event.choices, initial=Event.values, widget=forms.CheckboxSelectMultiple
    )

    class Meta:
        model = WebhookEndpoint
        fields = ["url", "events", "description"]

    def clean_url(self) -> str:
        url = self.cleaned_data["url"]
        try:
            _, host, port, _ = outbound.check_url(url)
            outbound.checked_address(host, port)
        except outbound.OutboundError as error:
            raise forms.ValidationError(str(error)) from error
        return url
