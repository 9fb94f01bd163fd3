"""'Transcribe again' keeps people's work: it asks first, keeps the title and speaker names, and
puts corrections back on the lines that come back at the same time."""

from django.urls import reverse
from django_q.models import OrmQ

from tests.conftest import DUAL_CALL_LINES
from transcripts import services
from transcripts.models import Call
from transcripts.tasks import transcribe_call

URL = "transcripts:call_retranscribe"


def retranscribe(client, call, **data):
    return client.post(reverse(URL, args=[call.uuid]), data)


def new_transcript(call, lines):
    """What a worker saves after transcribing again, as finish() leaves it."""
    for index, (channel, start, end, text) in enumerate(lines):
        call.segments.create(
            index=index,
            start=start,
            end=end,
            text=text,
            channel=channel,
            speaker=call.speaker_for_channel(channel),
        )
    call.carry_over_edits()


def test_a_call_nobody_worked_on_is_queued_without_asking(client_for, alice, acme, make_dual_call):
    call = make_dual_call(acme, alice, title="")
    response = retranscribe(client_for(alice), call)
    assert response.url == call.get_absolute_url()
    call.refresh_from_db()
    assert call.status == Call.Status.QUEUED


def test_it_asks_first_when_the_call_has_edits_names_or_a_title(client_for, alice, dual_call):
    dual_call.segments.get(index=1).edit_text("Sure, glad to talk.")
    dual_call.rename_speakers({"Rep": "Dana"})
    client = client_for(alice)

    response = retranscribe(client, dual_call)

    confirm = reverse("transcripts:call_retranscribe_confirm", args=[dual_call.uuid])
    assert response.url == confirm
    dual_call.refresh_from_db()
    assert dual_call.status == Call.Status.DONE and dual_call.segments.count() == 7
    page = client.get(confirm).content.decode()
    assert "The title “Discovery call with Initech” is kept." in page
    assert "Rep: Dana" in page
    assert "1 corrected line: each is put back where the new transcript has a line" in page
    assert "Sure, glad to talk." in page and "(Whisper heard: Sure, happy to talk.)" in page
    assert 'name="confirmed" value="yes"' in page


def test_once_confirmed_it_queues_the_call_and_keeps_the_edits_aside(
    client_for, alice, dual_call, django_capture_on_commit_callbacks
):
    dual_call.segments.get(index=1).edit_text("Sure, glad to talk.")
    with django_capture_on_commit_callbacks(execute=True):
        retranscribe(client_for(alice), dual_call, confirmed="yes")
    dual_call.refresh_from_db()
    assert dual_call.status == Call.Status.QUEUED
    assert dual_call.segments.count() == 0
    assert dual_call.title == "Discovery call with Initech"
    assert [e["text"] for e in dual_call.edits_to_carry] == ["Sure, glad to talk."]


def test_asked_twice_at_once_it_queues_the_call_once_and_keeps_the_edit(
    dual_call, django_capture_on_commit_callbacks
):
    dual_call.segments.get(index=1).edit_text("Sure, glad to talk.")
    # A double click handled by two web workers: both read the call as finished.
    first, second = Call.objects.get(pk=dual_call.pk), Call.objects.get(pk=dual_call.pk)
    with django_capture_on_commit_callbacks(execute=True):
        assert services.call_retranscribe(first)
    running = Call.objects.get(pk=dual_call.pk)
    assert running.claim("worker-1")

    with django_capture_on_commit_callbacks(execute=True):
        assert not services.call_retranscribe(second)

    # The worker keeps the call, one task was queued, and the edit still waits for its line.
    assert running.heartbeat("worker-1")
    assert OrmQ.objects.count() == 1
    dual_call.refresh_from_db()
    assert dual_call.status == Call.Status.PROCESSING and dual_call.attempts == 1
    assert [e["text"] for e in dual_call.edits_to_carry] == ["Sure, glad to talk."]


def test_a_call_queued_again_meanwhile_is_not_reset_by_the_page(client_for, alice, dual_call):
    # The page was opened while the call was finished; someone queued it again since.
    services.call_retranscribe(Call.objects.get(pk=dual_call.pk))
    Call.objects.get(pk=dual_call.pk).claim("worker-1")
    response = retranscribe(client_for(alice), dual_call, confirmed="yes")
    page = client_for(alice).get(response.url).content.decode()
    assert "This call is still being transcribed: cancel it first." in page
    dual_call.refresh_from_db()
    assert dual_call.status == Call.Status.PROCESSING and dual_call.lease_owner == "worker-1"


def test_an_edit_comes_back_where_its_line_does_and_the_others_are_listed(
    client_for, alice, dual_call
):
    dual_call.segments.get(index=1).edit_text("Sure, glad to talk.")
    dual_call.segments.get(index=4).edit_text("Our plan costs forty dollars per seat.")
    services.call_retranscribe(dual_call)
    lines = list(DUAL_CALL_LINES)
    # The new transcript has the first edited line again, a little earlier; the second one's
    # stretch is now cut differently, so that edit has no line to go back on.
    lines[1] = (1, 3.3, 5.2, "Sure, happy to talk.")
    lines[4] = (0, 14.5, 17.0, "Our plan costs forty dollars per user.")
    new_transcript(dual_call, lines)
    dual_call._update(None, status=Call.Status.DONE)

    carried = dual_call.segments.get(index=1)
    assert carried.text == "Sure, glad to talk."
    assert carried.original_text == "Sure, happy to talk."
    assert dual_call.segments.get(index=4).text == "Our plan costs forty dollars per user."
    dual_call.refresh_from_db()
    assert dual_call.edits_to_carry == []
    assert [e["text"] for e in dual_call.edits_not_carried] == [
        "Our plan costs forty dollars per seat."
    ]
    page = client_for(alice).get(dual_call.get_absolute_url()).content.decode()
    assert "1 correction could not be carried over" in page
    assert "Our plan costs forty dollars per seat." in page


def test_the_worker_carries_an_edit_over_a_real_second_transcription(db, acme, make_call):
    call = make_call(acme)
    assert transcribe_call(call.pk) == "done"
    first = call.segments.get(index=0)
    first.edit_text("Corrected by a person.")
    services.call_retranscribe(call)
    assert transcribe_call(call.pk) == "done"
    call.refresh_from_db()
    # The same engine on the same audio makes the same first line: the edit is back on it.
    again = call.segments.get(index=0)
    assert again.text == "Corrected by a person."
    assert again.original_text == first.original_text
    assert call.edits_not_carried == [] and call.edits_to_carry == []
