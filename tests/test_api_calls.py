"""Calls through the API: upload, idempotent create, the list's filters and cursor pages, the
transcript, analytics, exports, search and the call's actions."""

import base64
import json
from datetime import timedelta
from urllib.parse import urlencode

import pytest
from django.utils import timezone

from tests.api_helpers import bearer
from transcripts.models import Call
from transcripts.speech import audio

CALLS = "/api/v1/calls/"


def detail(call) -> str:
    return f"{CALLS}{call.uuid}/"


def upload(client, headers, path, **fields):
    with path.open("rb") as handle:
        return client.post(CALLS, {"audio": handle, **fields}, **headers)


def test_it_creates_a_call_from_an_upload_and_queues_it(client, alice, speech_sample):
    response = upload(client, bearer(alice), speech_sample, title="Discovery with Initech")
    assert response.status_code == 201, response.content
    body = response.json()
    call = Call.objects.get()
    assert body["id"] == str(call.uuid)
    assert body["status"] == "queued" and body["team"] == "acme"
    assert body["title"] == "Discovery with Initech"
    assert call.uploaded_by == alice
    # The same checks as the upload page: the recording was probed.
    assert call.duration == pytest.approx(29.7, abs=0.5)
    assert body["links"]["self"].endswith(detail(call))


def test_it_refuses_what_is_not_a_recording(client, alice, tmp_path):
    notes = tmp_path / "notes.mp3"
    notes.write_bytes(b"Call Sarah back on Tuesday.\n" * 40)
    response = upload(client, bearer(alice), notes)
    assert response.status_code == 400
    assert audio.NOT_AUDIO in json.dumps(response.json())
    assert not Call.objects.exists()


def test_it_refuses_an_upload_over_the_limit(client, alice, speech_sample, settings):
    settings.MAX_UPLOAD_MB = 1
    settings.MAX_UPLOAD_BYTES = 50_000
    response = upload(client, bearer(alice), speech_sample)
    assert response.status_code == 413
    assert not Call.objects.exists()


def test_it_keeps_the_queue_allowance(client, alice, speech_sample, settings):
    settings.MAX_QUEUED_CALLS_PER_USER = 0
    response = upload(client, bearer(alice), speech_sample)
    assert response.status_code == 400
    assert "waiting to be transcribed" in json.dumps(response.json())


def test_people_in_several_teams_name_the_team(client, alice, globex, speech_sample):
    from transcripts.models import Membership

    Membership.objects.create(user=alice, team=globex)
    headers = bearer(alice)
    assert upload(client, headers, speech_sample).status_code == 400
    response = upload(client, headers, speech_sample, team="globex")
    assert response.status_code == 201
    assert Call.objects.get().team == globex


def test_it_refuses_a_file_and_a_url_together_or_neither(client, alice, speech_sample):
    headers = bearer(alice)
    assert client.post(CALLS, {}, **headers).status_code == 400
    response = upload(client, headers, speech_sample, url="https://example.com/call.mp3")
    assert response.status_code == 400


# --- Idempotency ----------------------------------------------------------------------------


def test_a_retried_request_with_the_same_key_returns_the_same_call(client, alice, speech_sample):
    headers = {**bearer(alice), "HTTP_IDEMPOTENCY_KEY": "dialer-4711"}
    first = upload(client, headers, speech_sample, title="Retried")
    second = upload(client, headers, speech_sample, title="Retried")
    assert first.status_code == 201
    assert second.status_code == 200
    assert second.json()["id"] == first.json()["id"]
    assert Call.objects.count() == 1


def test_different_keys_make_different_calls(client, alice, speech_sample):
    headers = bearer(alice)
    upload(client, {**headers, "HTTP_IDEMPOTENCY_KEY": "a"}, speech_sample)
    upload(client, {**headers, "HTTP_IDEMPOTENCY_KEY": "b"}, speech_sample)
    assert Call.objects.count() == 2


def test_a_key_reused_for_another_request_is_refused(client, alice, speech_sample):
    headers = {**bearer(alice), "HTTP_IDEMPOTENCY_KEY": "dialer-4711"}
    upload(client, headers, speech_sample, title="One call")
    response = upload(client, headers, speech_sample, title="Another call")
    assert response.status_code == 400
    assert "different request" in response.json()["detail"]
    assert Call.objects.count() == 1


def test_keys_belong_to_their_user(client, alice, bob, speech_sample):
    upload(client, {**bearer(alice), "HTTP_IDEMPOTENCY_KEY": "k"}, speech_sample)
    response = upload(client, {**bearer(bob), "HTTP_IDEMPOTENCY_KEY": "k"}, speech_sample)
    assert response.status_code == 201
    assert Call.objects.count() == 2


def test_a_key_is_forgotten_after_a_day(client, alice, speech_sample):
    from api.models import IdempotencyKey

    headers = {**bearer(alice), "HTTP_IDEMPOTENCY_KEY": "k"}
    upload(client, headers, speech_sample)
    IdempotencyKey.objects.update(created_at=timezone.now() - timedelta(hours=25))
    assert upload(client, headers, speech_sample).status_code == 201
    assert Call.objects.count() == 2


# --- The list -------------------------------------------------------------------------------


@pytest.fixture
def five_calls(acme, alice, bob, make_call):
    now = timezone.now()
    calls = []
    for number, (title, status, duration) in enumerate(
        [
            ("Echo", Call.Status.DONE, 30.0),
            ("alpha", Call.Status.DONE, None),
            ("Delta", Call.Status.FAILED, 10.0),
            ("Bravo", Call.Status.QUEUED, 50.0),
            ("charlie", Call.Status.DONE, 20.0),
        ]
    ):
        calls.append(
            make_call(
                acme,
                alice if number % 2 else bob,
                title=title,
                status=status,
                duration=duration,
                created_at=now - timedelta(hours=number),
            )
        )
    return calls


def every_page(client, headers, url):
    seen = []
    while url:
        body = client.get(url, **headers).json()
        seen += [call["title"] for call in body["results"]]
        url = body["next"]
    return seen


@pytest.mark.parametrize(
    "sort, expected",
    [
        ("", ["Echo", "alpha", "Delta", "Bravo", "charlie"]),
        ("title", ["alpha", "Bravo", "charlie", "Delta", "Echo"]),
        ("-title", ["Echo", "Delta", "charlie", "Bravo", "alpha"]),
        ("-duration", ["Bravo", "Echo", "charlie", "Delta", "alpha"]),
        ("created", ["charlie", "Bravo", "Delta", "alpha", "Echo"]),
    ],
)
def test_cursor_pages_follow_the_sort(client, alice, five_calls, sort, expected):
    assert every_page(client, bearer(alice), f"{CALLS}?page_size=2&sort={sort}") == expected


def test_the_list_filters_as_the_call_list_does(client, alice, five_calls):
    headers = bearer(alice)
    done = client.get(f"{CALLS}?status=done&sort=title", **headers).json()["results"]
    assert [call["title"] for call in done] == ["alpha", "charlie", "Echo"]
    by_bob = client.get(f"{CALLS}?uploader=bob&sort=title", **headers).json()["results"]
    assert [call["title"] for call in by_bob] == ["charlie", "Delta", "Echo"]
    assert client.get(f"{CALLS}?status=nonsense", **headers).status_code == 400


def test_a_nul_in_the_uploader_or_team_filter_is_ignored(client, alice, five_calls):
    # PostgreSQL refuses a NUL in a query; no username or slug has one, so it is dropped.
    headers = bearer(alice)

    def titles(**params) -> list[str]:
        response = client.get(CALLS, {"sort": "title", **params}, **headers)
        assert response.status_code == 200
        return [call["title"] for call in response.json()["results"]]

    assert titles(uploader="bob\x00") == titles(uploader="bob") == ["charlie", "Delta", "Echo"]
    assert titles(team="acme\x00") == titles(team="acme") == titles()


def forged_cursor(position: str) -> str:
    return base64.b64encode(urlencode({"p": position}).encode()).decode()


@pytest.mark.parametrize(
    "sort, position",
    [
        ("-created", "not-a-date"),
        ("created", "2024-13-45 99:00"),
        ("duration", "not-a-number"),
        ("-duration", "1e400x"),
        # Any text is a title's position, but PostgreSQL refuses one with a NUL.
        ("title", "alpha\x00"),
        ("-status", "done\x00"),
    ],
)
def test_a_forged_cursor_is_an_invalid_cursor(client, alice, five_calls, sort, position):
    response = client.get(CALLS, {"sort": sort, "cursor": forged_cursor(position)}, **bearer(alice))
    assert response.status_code == 404
    assert response.json() == {"detail": "Invalid cursor"}


def test_a_call_shows_its_progress(client, alice, acme, make_call):
    now = timezone.now()
    call = make_call(
        acme,
        alice,
        status=Call.Status.PROCESSING,
        stage=Call.Stage.TRANSCRIBING,
        duration=100.0,
        progress=0.5,
        transcribing_started_at=now - timedelta(seconds=10),
    )
    body = client.get(detail(call), **bearer(alice)).json()
    assert body["status"] == "processing" and body["stage"] == "transcribing"
    assert body["percent"] == 50
    assert body["eta_seconds"] == pytest.approx(10, abs=2)


# --- A transcribed call ----------------------------------------------------------------------


def test_the_transcript_has_speakers_timings_and_confidence(client, alice, dual_call):
    dual_call.segments.filter(index=0).update(
        avg_logprob=-0.1, words=[{"word": "Hi", "start": 0.5, "end": 0.7, "probability": 0.9}]
    )
    body = client.get(f"{detail(dual_call)}transcript/", **bearer(alice)).json()
    first = body["segments"][0]
    assert first["speaker"] == "Rep" and first["text"] == "Hi Sarah, thanks for taking my call."
    assert first["confidence"] == pytest.approx(0.905, abs=0.001)
    assert first["words"][0]["word"] == "Hi"
    assert body["segments"][1]["speaker"] == "Customer"


def test_a_call_not_transcribed_has_no_transcript_yet(client, alice, acme, make_call):
    call = make_call(acme, alice)
    assert client.get(f"{detail(call)}transcript/", **bearer(alice)).status_code == 409


def test_analytics_and_tracker_hits(client, alice, dual_call):
    headers = bearer(alice)
    analytics = client.get(f"{detail(dual_call)}analytics/", **headers).json()
    assert {"speakers", "tracker_hits"} <= set(analytics)
    hits = client.get(f"{detail(dual_call)}tracker-hits/", **headers).json()
    assert {"tracker": "Pricing", "phrase": "pricing"}.items() <= hits[0].items()


@pytest.mark.parametrize(
    "query, accept, content_type, start",
    [
        ("", "", "text/plain", b"Discovery call"),
        ("?format=srt", "", "application/x-subrip", b"1\n00:00:00,500"),
        ("", "text/vtt", "text/vtt", b"WEBVTT"),
        ("?format=json", "", "application/json", b"{"),
        ("?format=docx", "", "application/vnd.openxmlformats", b"PK"),
    ],
)
def test_exports_by_format_or_accept_header(
    client, alice, dual_call, query, accept, content_type, start
):
    headers = bearer(alice)
    if accept:
        headers["HTTP_ACCEPT"] = accept
    response = client.get(f"{detail(dual_call)}export/{query}", **headers)
    assert response.status_code == 200
    assert response["Content-Type"].startswith(content_type)
    assert response.content.startswith(start)
    assert "discovery-call-with-initech" in response["Content-Disposition"]


def test_it_renames_the_call_and_its_speakers(client, alice, dual_call):
    response = client.patch(
        detail(dual_call),
        {"title": "Initech, first call", "speaker_names": {"Rep": "Dana", "Customer": "Sarah"}},
        content_type="application/json",
        **bearer(alice),
    )
    assert response.status_code == 200, response.content
    dual_call.refresh_from_db()
    assert dual_call.title == "Initech, first call"
    assert dual_call.segments.get(index=1).speaker == "Sarah"
    same = client.patch(
        detail(dual_call),
        {"speaker_names": {"Rep": "Sarah", "Customer": "Sarah"}},
        content_type="application/json",
        **bearer(alice),
    )
    assert same.status_code == 400


def test_search_finds_words_across_calls(client, alice, dual_call):
    body = client.get("/api/v1/search/?q=proposal", **bearer(alice)).json()
    assert body["count"] == 1
    result = body["results"][0]
    assert result["call"]["id"] == str(dual_call.uuid)
    assert "proposal" in result["lines"][0]["text"]


def test_a_nul_in_the_search_query_is_ignored(client, alice, dual_call):
    headers = bearer(alice)
    with_nul = client.get("/api/v1/search/", {"q": "pricing\x00"}, **headers)
    assert with_nul.status_code == 200
    assert with_nul.json()["count"] == 1
    assert with_nul.json() == client.get("/api/v1/search/", {"q": "pricing"}, **headers).json()


def test_retranscribe_cancel_and_delete(client, alice, dual_call):
    headers = bearer(alice)
    assert client.post(f"{detail(dual_call)}retranscribe/", **headers).status_code == 202
    dual_call.refresh_from_db()
    assert dual_call.status == Call.Status.QUEUED and not dual_call.segments.exists()
    # Not finished: it cannot be transcribed again before it is cancelled.
    assert client.post(f"{detail(dual_call)}retranscribe/", **headers).status_code == 409
    response = client.post(f"{detail(dual_call)}cancel/", **headers)
    assert response.status_code == 200 and response.json()["status"] == "cancelled"
    assert client.delete(detail(dual_call), **headers).status_code == 204
    assert not Call.objects.exists()


def test_teams_and_trackers(client, alice, acme):
    headers = bearer(alice)
    teams = client.get("/api/v1/teams/", **headers).json()
    assert teams == [{"slug": "acme", "name": "Acme Sales", "rep_channel": 0, "role": "manager"}]
    trackers = client.get("/api/v1/teams/acme/trackers/", **headers).json()
    assert {tracker["name"] for tracker in trackers} == {"Competitors", "Pricing", "Next steps"}


def test_json_nested_too_deep_is_a_bad_request(client, alice, dual_call):
    response = client.patch(
        f"/api/v1/calls/{dual_call.uuid}/",
        "[" * 100_000,
        content_type="application/json",
        **bearer(alice),
    )
    assert response.status_code == 400
    assert "nested too deeply" in response.json()["detail"]
