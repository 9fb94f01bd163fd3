"""A transcribed call's page: speakers, the timeline, the analytics, searching the transcript,
and correcting its lines in place."""

import re

import pytest
from django.urls import reverse

from transcripts import tasks
from transcripts.models import Call, Segment


def page_of(client, call, **params) -> str:
    response = client.get(call.get_absolute_url(), params)
    assert response.status_code == 200
    return response.content.decode()


def htmx(client, method: str, url: str, data=None):
    return getattr(client, method)(url, data or {}, headers={"HX-Request": "true"})


def test_each_line_shows_its_speaker(client_for, alice, dual_call):
    page = page_of(client_for(alice), dual_call)
    assert re.search(
        r'class="segment rep[^"]*"[^>]*>\s*<button[^>]*>0:00</button>\s*'
        r'<span class="speaker">Rep</span>',
        page,
    )
    assert '<span class="speaker">Customer</span>' in page
    assert "Speakers not separated" not in page


def test_the_page_draws_who_spoke_when(client_for, alice, dual_call):
    page = page_of(client_for(alice), dual_call)
    rows = re.findall(r'<div class="timeline-row" data-speaker="([^"]+)">', page)
    assert rows == ["Rep", "Customer"]
    bars = re.findall(
        r'<rect class="bar (rep|customer)" x="([\d.]+)"[^>]*data-start="([\d.]+)"', page
    )
    assert {kind for kind, _, _ in bars} == {"rep", "customer"}
    # The customer's question at 19.5 s of 30 s sits at 650 of the 1000 units.
    assert ("customer", "650.00", "19.500") in bars
    marks = re.findall(r'<rect class="mark tracker-mark"[^>]*data-start="([\d.]+)"', page)
    assert "9.500" in marks  # "pricing"


def test_the_talk_ratio_is_drawn_against_the_43_percent_benchmark(client_for, alice, dual_call):
    page = page_of(client_for(alice), dual_call)
    shares = dict(
        re.findall(r'class="talk-share \w+" data-speaker="(\w+)" data-share="([\d.]+)"', page)
    )
    assert float(shares["Rep"]) == pytest.approx(16.0 / 25.5, abs=0.001)
    assert float(shares["Customer"]) == pytest.approx(9.5 / 25.5, abs=0.001)
    assert 'class="benchmark" data-left="43.00"' in page


def test_the_analytics_link_to_their_moments(client_for, alice, dual_call):
    page = page_of(client_for(alice), dual_call)
    questions = re.findall(r'<a href="#t=([\d.]+)" class="moment question"', page)
    assert questions == ["5.50", "19.50"]
    hits = re.findall(
        r'<a href="#t=([\d.]+)" class="moment tracker-hit"[^>]*data-tracker="([^"]+)"', page
    )
    assert ("9.50", "Pricing") in hits and ("23.50", "Next steps") in hits
    assert re.search(r'id="longest-monologue"><a href="#t=14.50"', page)
    assert '<dd id="interruption-count">1</dd>' in page
    assert '<dd id="question-count">2</dd>' in page


def test_the_filler_count_is_called_a_lower_bound(client_for, alice, dual_call):
    page = page_of(client_for(alice), dual_call)
    assert "Filler counts are a lower bound" in page


def test_a_mono_call_says_its_speakers_are_not_separated(client_for, alice, acme, make_call):
    call = make_call(acme, alice, status=Call.Status.DONE, duration=10.0, channel_layout="mono")
    call.segments.create(index=0, start=0.0, end=3.0, text="Hello there.")
    page = page_of(client_for(alice), call)
    assert "Speakers not separated: mono recording" in page
    assert 'id="speaker-names-form"' not in page
    assert 'class="speaker"' not in page


def test_a_call_transcribed_before_speakers_gets_its_analytics_after_the_first_view(
    client_for, alice, acme, make_call
):
    call = make_call(acme, alice, status=Call.Status.DONE, duration=10.0)
    call.segments.create(index=0, start=0.0, end=3.0, text="What is the price?")
    page = page_of(client_for(alice), call)
    assert "Speakers not separated: transcribed before speakers were detected" in page
    assert "The figures are being computed" in page
    # A worker computes them; the page only asked for it.
    assert tasks.refresh_call_analytics(call.pk)
    call.refresh_from_db()
    assert call.analytics["overall"]["question_count"] == 1
    assert "being computed" not in page_of(client_for(alice), call)


def test_renaming_the_customer_shows_the_name_everywhere(client_for, alice, dual_call):
    client = client_for(alice)
    response = client.post(
        reverse("transcripts:call_speakers", args=[dual_call.uuid]),
        {"rep": "", "customer": "Sarah Lee"},
    )
    assert response.status_code == 302
    page = page_of(client, dual_call)
    assert '<span class="speaker">Sarah Lee</span>' in page
    assert '<span class="speaker">Customer</span>' not in page
    assert 'data-speaker="Sarah Lee"' in page  # timeline, talk ratio and the analytics table
    dual_call.refresh_from_db()
    assert dual_call.speaker_names == {"Customer": "Sarah Lee"}
    assert [s["name"] for s in dual_call.analytics["speakers"]] == ["Rep", "Sarah Lee"]
    assert dual_call.tracker_hits.filter(speaker="Sarah Lee").exists()


def test_clearing_a_name_goes_back_to_the_role(client_for, alice, dual_call):
    dual_call.rename_speakers({"Rep": "Dana", "Customer": "Sarah"})
    client_for(alice).post(
        reverse("transcripts:call_speakers", args=[dual_call.uuid]), {"rep": "", "customer": ""}
    )
    dual_call.refresh_from_db()
    assert dual_call.speaker_names == {}
    assert set(dual_call.segments.values_list("speaker", flat=True)) == {"Rep", "Customer"}


def test_the_two_speakers_cannot_have_the_same_name(client_for, alice, dual_call):
    client = client_for(alice)
    client.post(
        reverse("transcripts:call_speakers", args=[dual_call.uuid]),
        {"rep": "Sam", "customer": "sam"},
    )
    page = page_of(client, dual_call)
    assert "The two speakers need different names." in page
    dual_call.refresh_from_db()
    assert dual_call.speaker_names == {}


def test_swapping_the_speakers_exchanges_labels_and_talk_shares(client_for, alice, dual_call):
    dual_call.rename_speakers({"Customer": "Sarah"})
    rep_share = dual_call.rep_talk_share
    client_for(alice).post(reverse("transcripts:call_swap_speakers", args=[dual_call.uuid]))
    dual_call.refresh_from_db()
    assert dual_call.rep_channel == 1
    first = dual_call.segments.get(index=0)
    assert (first.channel, first.speaker) == (0, "Sarah")
    assert dual_call.rep_talk_share == pytest.approx(1 - rep_share)
    # Swapping back is the undo.
    dual_call.swap_speakers()
    assert dual_call.segments.get(index=0).speaker == "Rep"


def test_editing_a_line_keeps_what_whisper_heard(client_for, alice, dual_call):
    url = reverse("transcripts:segment_edit", args=[dual_call.uuid, 1])
    client = client_for(alice)
    form = htmx(client, "get", url)
    assert '<textarea name="text" id="line-text-1"' in form.content.decode()
    response = htmx(client, "post", url, {"text": "Sure, happy to talk. Is this about pricing?"})
    assert response.status_code == 200
    assert response["HX-Trigger"] == "analytics-changed"
    line = response.content.decode()
    assert 'class="segment customer edited"' in line
    assert 'title="Whisper heard: Sure, happy to talk."' in line
    segment = dual_call.segments.get(index=1)
    assert segment.original_text == "Sure, happy to talk."
    assert segment.text == "Sure, happy to talk. Is this about pricing?"
    # A worker brings the analytics up to the corrected text: one more question, one more
    # tracker hit.
    assert tasks.refresh_call_analytics(dual_call.pk, force=True)
    dual_call.refresh_from_db()
    assert dual_call.analytics["overall"]["question_count"] == 3
    assert dual_call.tracker_hits.filter(segment=segment, phrase="pricing").exists()


def test_a_corrected_line_can_be_restored(client_for, alice, dual_call):
    segment = dual_call.segments.get(index=1)
    segment.edit_text("Sure, happy to walk.")
    response = htmx(
        client_for(alice), "post", reverse("transcripts:segment_restore", args=[dual_call.uuid, 1])
    )
    assert "edited" not in response.content.decode()
    segment.refresh_from_db()
    assert (segment.text, segment.original_text) == ("Sure, happy to talk.", "")


def test_editing_a_line_back_to_the_original_is_no_edit(dual_call):
    segment = dual_call.segments.get(index=1)
    segment.edit_text("Sure, happy to walk.")
    segment.edit_text("Sure,  happy to talk.")
    assert not segment.is_edited and segment.original_text == ""


def test_an_empty_line_is_refused(client_for, alice, dual_call):
    url = reverse("transcripts:segment_edit", args=[dual_call.uuid, 1])
    response = htmx(client_for(alice), "post", url, {"text": "   "})
    assert response.status_code == 200  # htmx swaps the form back in with its error
    assert "This field is required." in response.content.decode()
    assert dual_call.segments.get(index=1).text == "Sure, happy to talk."


def test_editing_without_javascript_goes_back_to_the_moment(client_for, alice, dual_call):
    url = reverse("transcripts:segment_edit", args=[dual_call.uuid, 2])
    client = client_for(alice)
    assert "Correct a line" in client.get(url).content.decode()
    response = client.post(url, {"text": "What do you use for notes today?"})
    assert response.status_code == 302
    assert response["Location"] == f"{dual_call.get_absolute_url()}#t=5.50"


def test_cancelling_an_edit_shows_the_line_again(client_for, alice, dual_call):
    url = reverse("transcripts:segment_detail", args=[dual_call.uuid, 3])
    line = htmx(client_for(alice), "get", url).content.decode()
    assert line.startswith('<li class="segment customer" id="line-3"')


def test_a_line_of_another_call_is_not_found(client_for, alice, dual_call):
    url = reverse("transcripts:segment_edit", args=[dual_call.uuid, 99])
    assert client_for(alice).get(url).status_code == 404


def test_the_analytics_reload_after_a_correction(client_for, alice, dual_call):
    url = reverse("transcripts:call_insights", args=[dual_call.uuid])
    response = htmx(client_for(alice), "get", url)
    body = response.content.decode()
    assert body.startswith('<section class="insights" id="insights"')
    assert 'hx-trigger="analytics-changed from:body"' in body


def test_searching_the_transcript_marks_the_matching_lines(client_for, alice, dual_call):
    url = reverse("transcripts:call_transcript", args=[dual_call.uuid])
    body = htmx(client_for(alice), "get", url, {"q": "prices"}).content.decode()
    assert "1 line matches “prices”." in body
    assert "the <mark>pricing</mark> of other tools" in body
    # Every line stays, so a match is read in context; only the match is marked.
    assert body.count('<li class="segment') == dual_call.segments.count()
    assert len(re.findall(r'class="segment [a-z]+ match"', body)) == 1


def test_the_transcript_search_works_without_javascript(client_for, alice, dual_call):
    client = client_for(alice)
    url = reverse("transcripts:call_transcript", args=[dual_call.uuid])
    response = client.get(url, {"q": "demo"})
    assert response["Location"] == f"{dual_call.get_absolute_url()}?q=demo"
    page = page_of(client, dual_call, q="demo")
    assert "schedule a <mark>demo</mark>" in page
    assert 'value="demo"' in page


def test_search_highlighting_escapes_the_transcript(client_for, alice, dual_call):
    Segment.objects.filter(call=dual_call, index=0).update(text="<script>alert('x')</script> price")
    page = page_of(client_for(alice), dual_call, q="price")
    assert "<script>alert" not in page
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt; <mark>price</mark>" in page


def test_the_page_links_every_export(client_for, alice, dual_call):
    page = page_of(client_for(alice), dual_call)
    for fmt in ("txt", "srt", "vtt", "json", "docx"):
        url = reverse("transcripts:call_export", args=[dual_call.uuid, fmt])
        assert f'id="export-{fmt}" data-format="{fmt}" href="{url}"' in page


def test_trackers_changed_since_the_analytics_show_as_updating_until_a_worker_applies_them(
    client_for, alice, acme, dual_call
):
    from transcripts import services

    tracker = acme.trackers.get(name="Competitors")
    tracker.phrases = ["other tools"]
    services.tracker_save(tracker=tracker)
    page = page_of(client_for(alice), dual_call)
    assert "Updating these figures after the latest changes" in page
    tasks.refresh_team_analytics(acme.pk)
    page = page_of(client_for(alice), dual_call)
    assert 'data-tracker="Competitors"' in page and "Updating these figures" not in page


@pytest.mark.parametrize(
    "name, method, kwargs",
    [
        ("call_insights", "get", {}),
        ("call_transcript", "get", {}),
        ("segment_detail", "get", {"index": 0}),
        ("segment_edit", "get", {"index": 0}),
        ("segment_edit", "post", {"index": 0}),
        ("segment_restore", "post", {"index": 0}),
        ("call_speakers", "post", {}),
        ("call_swap_speakers", "post", {}),
    ],
)
def test_an_outsider_cannot_see_or_change_the_call(
    client_for, charlie, dual_call, name, method, kwargs
):
    url = reverse(f"transcripts:{name}", kwargs={"uuid": dual_call.uuid, **kwargs})
    response = getattr(client_for(charlie), method)(url, {"text": "hacked", "rep": "x"})
    assert response.status_code == 404
    assert dual_call.segments.get(index=0).text == "Hi Sarah, thanks for taking my call."
