"""Fast or Accurate: the team's setting, the choice at upload (page and API), the figures shown
beside it, the model the worker loads, and the model named on the call's page and exports."""

import json
import re

import pytest
from django.urls import reverse

from tests.api_helpers import bearer
from transcripts import quality
from transcripts.models import Call, Quality
from transcripts.speech.weights import has_packaged_ct2
from transcripts.speech.wer import word_error_rate
from transcripts.tasks import transcribe_call

UPLOAD_URL = reverse("transcripts:call_upload")
API_CALLS = "/api/v1/calls/"

needs_base = pytest.mark.skipif(
    not has_packaged_ct2("base"), reason="base's weights are not installed"
)


@pytest.fixture
def accurate_missing(monkeypatch):
    """A server where base's weights are not installed."""
    monkeypatch.setattr(quality, "weights_installed", lambda engine, model: model != "base")


def upload(client, path, **fields):
    with path.open("rb") as handle:
        return client.post(UPLOAD_URL, {"audio": handle, **fields})


def api_upload(client, user, path, **fields):
    with path.open("rb") as handle:
        return client.post(API_CALLS, {"audio": handle, **fields}, **bearer(user))


# --- The upload form ------------------------------------------------------------------------


def test_the_upload_form_offers_both_with_their_measured_figures(client_for, alice):
    page = client_for(alice).get(UPLOAD_URL).content.decode()
    fast, accurate = quality.MEASURED["tiny.en"], quality.MEASURED["base"]
    assert 'name="quality" value="fast"' in page and 'value="accurate"' in page
    assert f"Fast (tiny.en): {fast.speed:g}x real time" in page
    assert f"Accurate (base): {accurate.speed:g}x real time" in page
    assert f"{accurate.wer_phone:.0%} over a phone line" in page
    assert "measured on 2 CPU cores" in page


def test_the_teams_setting_is_chosen_at_first(client_for, alice, acme):
    acme.quality = Quality.ACCURATE
    acme.save()
    page = client_for(alice).get(UPLOAD_URL).content.decode()
    checked = re.findall(r'<input type="radio" name="quality" value="(\w+)"[^>]*checked', page)
    assert checked == ["accurate"]


def test_an_upload_gets_the_quality_chosen(client_for, alice, acme, speech_sample):
    response = upload(client_for(alice), speech_sample, quality="accurate")
    assert response.status_code == 302
    assert Call.objects.get().quality == Quality.ACCURATE


def test_an_upload_without_a_choice_gets_the_teams(client_for, alice, acme, speech_sample):
    acme.quality = Quality.ACCURATE
    acme.save()
    upload(client_for(alice), speech_sample)
    assert Call.objects.get().quality == Quality.ACCURATE


def test_an_unknown_quality_is_refused(client_for, alice, speech_sample):
    response = upload(client_for(alice), speech_sample, quality="best")
    assert response.status_code == 400
    assert b"Select a valid choice" in response.content
    assert not Call.objects.exists()


def test_accurate_is_disabled_with_the_reason_where_base_is_missing(
    client_for, alice, accurate_missing
):
    page = client_for(alice).get(UPLOAD_URL).content.decode()
    accurate = page.split('value="accurate"')[1].split("</label>")[0]
    assert "disabled" in accurate
    assert "not installed on this server" in accurate


def test_accurate_is_refused_where_base_is_missing(
    client_for, alice, speech_sample, accurate_missing
):
    response = upload(client_for(alice), speech_sample, quality="accurate")
    assert response.status_code == 400
    assert b"Accurate needs the base model, which is not installed" in response.content
    assert not Call.objects.exists()


# --- The API --------------------------------------------------------------------------------


def test_the_api_takes_the_quality_and_shows_the_model(client, alice, speech_sample):
    response = api_upload(client, alice, speech_sample, quality="accurate")
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["quality"] == "accurate"
    assert Call.objects.get().quality == Quality.ACCURATE
    # Filled in by the worker: what transcribed the call.
    assert body["model_name"] == "" and "engine" in body


def test_the_api_refuses_an_unknown_quality(client, alice, speech_sample):
    response = api_upload(client, alice, speech_sample, quality="best")
    assert response.status_code == 400
    assert "quality" in response.json()


def test_the_api_refuses_accurate_where_base_is_missing(
    client, alice, speech_sample, accurate_missing
):
    response = api_upload(client, alice, speech_sample, quality="accurate")
    assert response.status_code == 400
    assert "not installed on this server" in json.dumps(response.json())


# --- The team's setting and the settings page ----------------------------------------------


def test_a_manager_sets_the_teams_quality(client_for, alice, acme):
    url = reverse("transcripts:team_quality", args=[acme.slug])
    response = client_for(alice).post(url, {"quality": "accurate"})
    assert response.status_code == 302
    acme.refresh_from_db()
    assert acme.quality == Quality.ACCURATE


def test_a_member_cannot_set_it(client_for, bob, acme):
    url = reverse("transcripts:team_quality", args=[acme.slug])
    assert client_for(bob).post(url, {"quality": "accurate"}).status_code == 403
    acme.refresh_from_db()
    assert acme.quality == Quality.FAST


def test_accurate_cannot_be_the_teams_setting_where_base_is_missing(
    client_for, alice, acme, accurate_missing
):
    url = reverse("transcripts:team_quality", args=[acme.slug])
    response = client_for(alice).post(url, {"quality": "accurate"}, follow=True)
    acme.refresh_from_db()
    assert acme.quality == Quality.FAST
    assert b"not installed on this server" in response.content


def test_the_team_page_shows_the_choice_with_its_figures(client_for, alice, bob, acme):
    page = client_for(alice).get(acme.get_absolute_url()).content.decode()
    assert 'id="quality-form"' in page and "Accurate (base): " in page
    page = client_for(bob).get(acme.get_absolute_url()).content.decode()
    assert 'id="quality-form"' not in page
    assert "transcribed <strong>Fast</strong>: Fast (tiny.en): " in page


def test_the_settings_page_shows_the_figures_and_the_second_pass(client_for, alice, acme):
    page = client_for(alice).get(reverse("transcripts:settings")).content.decode()
    table = page.split('id="qualities"')[1].split("</table>")[0]
    assert f"{quality.MEASURED['tiny.en'].speed}× real time" in table
    assert f"{quality.MEASURED['base'].speed}× real time" in table
    assert "Measured on 2 CPU cores" in page
    assert "Fast (tiny.en)" in page.split('id="team-qualities"')[1]
    second = page.split('id="second-pass"')[1].split("</td>")[0]
    if has_packaged_ct2("base"):
        assert "on for Fast phone-line calls" in second
        assert "decoded again with base" in second
    else:
        assert "off" in second


# --- The worker, the call's page and the exports -------------------------------------------


@pytest.mark.slow
@needs_base
@pytest.mark.parametrize(
    "chosen, model, max_wer",
    # Measured on the espeak sample: tiny.en about 5%, base about 7% (its multilingual
    # vocabulary spells a few names otherwise).
    [("fast", "tiny.en", 0.15), ("accurate", "base", 0.2)],
)
def test_the_worker_transcribes_with_the_chosen_model(
    db, acme, alice, make_call, speech_script, chosen, model, max_wer
):
    call = make_call(acme, alice, quality=chosen)
    assert transcribe_call(call.pk) == "done"
    call.refresh_from_db()
    assert call.model_name == model
    assert word_error_rate(speech_script, call.transcript_text) < max_wer
    second_pass = call.decode_options.get("second_pass")
    if chosen == "fast":
        assert second_pass["model"] == "base"
    else:
        assert second_pass is None


def test_an_accurate_call_fails_clearly_where_base_went_missing(
    db, acme, alice, make_call, accurate_missing
):
    call = make_call(acme, alice, quality=Quality.ACCURATE)
    assert transcribe_call(call.pk) == "failed"
    call.refresh_from_db()
    assert "Accurate needs the base model" in call.error


def test_the_call_page_and_exports_name_the_quality_and_the_lines_decoded_again(
    client_for, alice, acme, make_dual_call
):
    call = make_dual_call(acme, alice, quality=Quality.FAST, engine="faster", model_name="tiny.en")
    line = call.segments.get(index=3)
    line.decoded_by, line.first_pass_text = "base", "We type them by hand and the prizing"
    line.save()
    client = client_for(alice)
    page = client.get(call.get_absolute_url()).content.decode()
    assert "Quality: Fast (tiny.en); 1 unsure line decoded again with base." in page
    assert "tiny.en heard: We type them by hand and the prizing" in page

    export = reverse("transcripts:call_export", args=[call.uuid, "txt"])
    assert "Transcribed: Fast (tiny.en); 1 unsure line" in client.get(export).content.decode()
    export = reverse("transcripts:call_export", args=[call.uuid, "json"])
    data = json.loads(client.get(export).content)
    assert data["transcribed_with"]["quality"] == "fast"
    assert data["transcribed_with"]["model"] == "tiny.en"
    assert data["transcribed_with"]["lines_decoded_again"] == 1
    decoded = [s for s in data["segments"] if s.get("decoded_by")]
    assert [s["first_pass_text"] for s in decoded] == ["We type them by hand and the prizing"]
    export = reverse("transcripts:call_export", args=[call.uuid, "vtt"])
    assert "NOTE Transcribed: Fast (tiny.en)" in client.get(export).content.decode()


def test_the_api_transcript_says_what_transcribed_it(client, alice, acme, make_dual_call):
    call = make_dual_call(acme, alice, quality=Quality.ACCURATE, engine="faster", model_name="base")
    body = client.get(f"{API_CALLS}{call.uuid}/transcript/", **bearer(alice)).json()
    assert body["transcribed_with"]["summary"] == "Accurate (base)"
    assert all(s["decoded_by"] == "" for s in body["segments"])
