"""The OpenAI API engine, against a local fake of the endpoint: the real service is never called."""

from __future__ import annotations

import socket
from dataclasses import replace

import numpy as np
import pytest

from tests.openai_api_server import FakeTranscriptionAPI, decoded_duration
from transcripts.speech.base import SAMPLE_RATE, DecodeOptions, EngineSpec, TranscriptionError
from transcripts.speech.openai_api_engine import (
    AUDIO_FORMATS,
    OpenAIAPIEngine,
    encode_audio,
    parse_response,
    quiet_cut,
)

KEY = "sk-test-key"


@pytest.fixture(autouse=True)
def no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    # urllib honours proxy variables; requests to the local fake must not leave the machine.
    for name in ("http_proxy", "https_proxy", "all_proxy", "HTTP_PROXY", "HTTPS_PROXY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")


@pytest.fixture
def api() -> FakeTranscriptionAPI:
    with FakeTranscriptionAPI(api_key=KEY) as server:
        yield server


def make_engine(api_base: str, key: str = KEY, **settings: object) -> OpenAIAPIEngine:
    settings.setdefault("backoff_seconds", 0.0)
    return OpenAIAPIEngine(EngineSpec(engine="api", api_key=key, api_base=api_base), **settings)


def call_audio(seconds: float, seed: int = 0) -> np.ndarray:
    """A quiet tone with noise, and a 0.4 s pause every 4 s, like turns in a call."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    audio = 0.1 * np.sin(2 * np.pi * 180 * t) + 0.02 * rng.standard_normal(len(t))
    audio[(t % 4.0) > 3.6] *= 0.01
    return audio.astype(np.float32)


def test_it_describes_itself_as_a_remote_engine_that_does_its_own_splitting(
    api: FakeTranscriptionAPI,
) -> None:
    engine = make_engine(api.url)

    assert engine.describe() == {
        "engine": "api",
        "model": "whisper-1",
        "device": "remote",
        "compute_type": "api",
    }
    assert engine.window_seconds >= 4 * 3600
    assert KEY not in repr(engine)


def test_it_refuses_to_start_without_an_api_key() -> None:
    with pytest.raises(TranscriptionError, match="OPENAI_API_KEY"):
        OpenAIAPIEngine(EngineSpec(engine="api", api_key=""))
    with pytest.raises(TranscriptionError, match="OPENAI_API_KEY"):
        OpenAIAPIEngine(EngineSpec(engine="api", api_key="  "))


def test_it_refuses_an_api_base_that_is_not_http() -> None:
    with pytest.raises(TranscriptionError, match="OPENAI_API_BASE"):
        OpenAIAPIEngine(EngineSpec(engine="api", api_key=KEY, api_base="file:///etc"))


def test_it_transcribes_a_short_call_into_the_servers_segments_with_their_times(
    api: FakeTranscriptionAPI,
) -> None:
    audio = call_audio(25.0)
    progress: list[float] = []

    segments = list(make_engine(api.url).transcribe(audio, DecodeOptions(), progress.append))

    assert len(api.requests) == 1
    request = api.requests[0]
    assert request.authorization == f"Bearer {KEY}"
    assert request.field("model") == "whisper-1"
    assert request.field("response_format") == "verbose_json"
    assert request.fields["timestamp_granularities[]"] == ["segment"]
    assert request.field("temperature") == "0"
    assert request.field("language") is None and request.field("prompt") is None
    assert request.filename.endswith(".ogg") and request.file_content_type == "audio/ogg"
    assert request.duration == pytest.approx(25.0, abs=0.01)
    assert [s.text for s in segments] == [
        "Request 1 part 1.",
        "Request 1 part 2.",
        "Request 1 part 3.",
    ]
    assert [s.start for s in segments] == pytest.approx([0, 10, 20])
    assert [s.end for s in segments] == pytest.approx([10, 20, 25])
    assert segments[0].avg_logprob == -0.25 and segments[0].no_speech_prob == 0.01
    assert segments[0].words == ()
    assert progress[-1] == pytest.approx(25.0)


def test_it_sends_language_prompt_and_word_timestamps_when_asked(
    api: FakeTranscriptionAPI,
) -> None:
    options = DecodeOptions(language="en", initial_prompt="Acme, Globex.", word_timestamps=True)

    segments = list(make_engine(api.url).transcribe(call_audio(12.0), options))

    request = api.requests[0]
    assert request.fields["timestamp_granularities[]"] == ["segment", "word"]
    assert request.field("language") == "en"
    assert request.field("prompt") == "Acme, Globex."
    assert [w.word for w in segments[0].words] == ["Request", "1.1"]
    assert [w.word for w in segments[1].words] == ["Request", "1.2"]
    assert segments[1].words[0].start == pytest.approx(10.0)
    assert segments[1].words[-1].end == pytest.approx(12.0)


def test_it_splits_a_long_call_into_requests_under_the_upload_limit_and_retimes_them(
    api: FakeTranscriptionAPI,
) -> None:
    audio = call_audio(120.0)
    limit = 100_000  # about 20 s of Opus, so two minutes need several requests
    progress: list[float] = []

    segments = list(
        make_engine(api.url, max_upload_bytes=limit).transcribe(
            audio, DecodeOptions(), progress.append
        )
    )

    assert len(api.requests) >= 5
    assert all(len(r.file) <= limit for r in api.requests)
    durations = [r.duration for r in api.requests]
    assert sum(durations) == pytest.approx(120.0, abs=0.01)
    # Equal pieces, each cut within a few seconds of its planned end.
    assert max(durations) - min(durations) < 5.0
    starts = [s.start for s in segments]
    assert starts == sorted(starts)
    assert all(a.end <= b.start + 1e-6 for a, b in zip(segments, segments[1:], strict=False))
    assert segments[0].start == 0.0 and segments[-1].end == pytest.approx(120.0, abs=0.01)
    # No gap: each piece's segments reach to where the next piece begins.
    assert all(b.start - a.end < 1e-3 for a, b in zip(segments, segments[1:], strict=False))
    # The first segment of each request starts exactly at that piece's offset in the call.
    offsets = np.cumsum([0.0, *durations[:-1]])
    firsts = [s.start for s in segments if s.text.endswith("part 1.")]
    assert firsts == pytest.approx(list(offsets), abs=1e-3)
    assert progress == sorted(progress) and progress[-1] == pytest.approx(120.0)
    assert len(progress) >= len(api.requests)


def test_it_cuts_pieces_in_the_quiet_spot_nearest_the_planned_boundary(
    api: FakeTranscriptionAPI,
) -> None:
    audio = call_audio(120.0)

    list(make_engine(api.url, max_upload_bytes=100_000).transcribe(audio, DecodeOptions()))

    cuts = np.cumsum([r.duration for r in api.requests])[:-1]
    # call_audio is silent from 3.6 s to 4.0 s of every 4 s.
    assert len(cuts) >= 4 and all(3.6 <= cut % 4.0 <= 4.0 for cut in cuts), cuts


def test_it_plans_again_when_a_piece_comes_out_larger_than_the_limit(
    api: FakeTranscriptionAPI,
) -> None:
    engine = make_engine(api.url, max_upload_bytes=100_000)
    # A rate far below what Opus really spends: the first piece planned with it is too large.
    engine.audio_format = replace(AUDIO_FORMATS["opus"], planning_bytes_per_second=1_500.0)

    segments = list(engine.transcribe(call_audio(120.0), DecodeOptions()))

    assert len(api.requests) >= 5
    assert all(len(r.file) <= 100_000 for r in api.requests)
    assert sum(r.duration for r in api.requests) == pytest.approx(120.0, abs=0.01)
    assert segments[-1].end == pytest.approx(120.0, abs=0.01)


def test_quiet_cut_takes_the_middle_of_the_quietest_frame() -> None:
    audio = np.full(SAMPLE_RATE * 10, 0.5, dtype=np.float32)
    audio[int(7.3 * SAMPLE_RATE) : int(7.4 * SAMPLE_RATE)] = 0.0

    cut = quiet_cut(audio, 5 * SAMPLE_RATE, 10 * SAMPLE_RATE)

    assert cut == int(7.35 * SAMPLE_RATE)


def test_it_carries_the_previous_pieces_text_into_the_prompt_when_conditioning(
    api: FakeTranscriptionAPI,
) -> None:
    options = DecodeOptions(initial_prompt="Acme.", condition_on_previous_text=True)

    list(make_engine(api.url, max_upload_bytes=100_000).transcribe(call_audio(60.0), options))

    prompts = [r.field("prompt") for r in api.requests]
    assert prompts[0] == "Acme."
    assert prompts[1].startswith("Acme. Request 1 part ")


def test_it_says_clearly_that_the_api_key_was_refused(api: FakeTranscriptionAPI) -> None:
    engine = make_engine(api.url, key="sk-wrong-key-123")

    with pytest.raises(TranscriptionError, match="refused the API key") as caught:
        list(engine.transcribe(call_audio(5.0), DecodeOptions()))

    assert "OPENAI_API_KEY" in str(caught.value)
    assert "sk-wrong" not in str(caught.value)
    assert len(api.requests) == 1  # a refused key is not tried again


def test_it_retries_a_server_error_and_then_succeeds(api: FakeTranscriptionAPI) -> None:
    api.answer_next(500)

    segments = list(make_engine(api.url).transcribe(call_audio(5.0), DecodeOptions()))

    assert len(api.requests) == 2
    assert [s.text for s in segments] == ["Request 2 part 1."]


def test_it_gives_up_on_repeated_rate_limits_with_a_clear_error(
    api: FakeTranscriptionAPI,
) -> None:
    api.answer_next(429, {"error": {"message": "Rate limit reached"}}, times=10)

    with pytest.raises(TranscriptionError, match=r"too many \(HTTP 429\) after 3 tries"):
        list(make_engine(api.url, retries=2).transcribe(call_audio(5.0), DecodeOptions()))

    assert len(api.requests) == 3


def test_it_does_not_retry_when_the_account_has_no_quota(api: FakeTranscriptionAPI) -> None:
    api.answer_next(429, {"error": {"message": "Quota exceeded", "code": "insufficient_quota"}})

    with pytest.raises(TranscriptionError, match="no quota left"):
        list(make_engine(api.url).transcribe(call_audio(5.0), DecodeOptions()))

    assert len(api.requests) == 1


def test_it_waits_as_long_as_retry_after_asks_within_its_cap(
    api: FakeTranscriptionAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    waits: list[float] = []
    monkeypatch.setattr("transcripts.speech.openai_api_client.time.sleep", waits.append)
    api.answer_next(503, headers={"Retry-After": "7"})
    api.answer_next(503, headers={"Retry-After": "120"})

    list(make_engine(api.url, max_backoff_seconds=30).transcribe(call_audio(5.0), DecodeOptions()))

    assert waits == [7.0, 30.0]


@pytest.mark.parametrize(
    ("status", "message"),
    [
        (413, r"too large \(HTTP 413\)"),
        (400, r"refused the request \(HTTP 400\): Invalid language 'xx'"),
        (404, r"OPENAI_API_BASE and OPENAI_API_MODEL"),
    ],
)
def test_it_explains_a_refused_request_without_retrying(
    api: FakeTranscriptionAPI, status: int, message: str
) -> None:
    api.answer_next(status, {"error": {"message": "Invalid language 'xx'."}})

    with pytest.raises(TranscriptionError, match=message):
        list(make_engine(api.url).transcribe(call_audio(5.0), DecodeOptions()))

    assert len(api.requests) == 1


def test_it_never_repeats_the_key_in_an_error_message(api: FakeTranscriptionAPI) -> None:
    api.answer_next(400, {"error": {"message": f"Something about {KEY} went wrong"}})

    with pytest.raises(TranscriptionError) as caught:
        list(make_engine(api.url).transcribe(call_audio(5.0), DecodeOptions()))

    assert KEY not in str(caught.value) and "[key]" in str(caught.value)


def test_it_says_the_api_could_not_be_reached() -> None:
    # A port that was free a moment ago: nothing listens there.
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    engine = make_engine(f"http://127.0.0.1:{port}/v1", retries=1)

    with pytest.raises(TranscriptionError, match="could not be reached"):
        list(engine.transcribe(call_audio(5.0), DecodeOptions()))


def test_it_sends_nothing_for_audio_too_short_to_hold_speech(api: FakeTranscriptionAPI) -> None:
    progress: list[float] = []

    segments = list(
        make_engine(api.url).transcribe(call_audio(0.05), DecodeOptions(), progress.append)
    )

    assert segments == [] and api.requests == []
    assert progress == [pytest.approx(0.05)]


@pytest.mark.parametrize("name", sorted(AUDIO_FORMATS))
def test_each_audio_format_decodes_to_the_same_length(name: str) -> None:
    audio = call_audio(3.21)

    data = encode_audio(audio, AUDIO_FORMATS[name])

    assert decoded_duration(data) == pytest.approx(3.21, abs=1e-3)
    assert len(data) / 3.21 < AUDIO_FORMATS[name].planning_bytes_per_second


def test_parse_response_clamps_times_to_the_piece_and_gives_words_to_their_segment() -> None:
    response = {
        "segments": [
            {"start": 0.0, "end": 4.0, "text": " Hello there."},
            {"start": 4.0, "end": 9.7, "text": " Bye."},
            {"start": 9.0, "end": 9.5, "text": "  "},
        ],
        "words": [
            {"word": " Hello", "start": 0.1, "end": 0.5},
            {"word": " there.", "start": 3.5, "end": 4.2},
            {"word": " Bye.", "start": 8.9, "end": 9.6},
        ],
    }

    segments = parse_response(response, duration=9.0)

    assert [(s.start, s.end, s.text) for s in segments] == [
        (0.0, 4.0, "Hello there."),
        (4.0, 9.0, "Bye."),
    ]
    assert [w.word for w in segments[0].words] == ["Hello", "there."]
    assert [(w.word, w.end) for w in segments[1].words] == [("Bye.", 9.0)]
