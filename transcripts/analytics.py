"""Conversation analytics for one call: talk time, monologues, pace, questions, interruptions,
silence, filler words and keyword trackers.

Plain Python with no Django import, so it runs in tests, workers and scripts alike. Segments are
duck-typed: anything with `start`, `end` (seconds), `text`, `speaker` ("" when unlabelled) and
`words` (dicts or objects with "start", "end", "word", "probability"; may be empty) will do - the
Django `Segment` model, the engines' `Segment` dataclass, or a test's dataclass.

Conventions used throughout:
- The unlabelled speaker "" is treated as one unknown voice: it counts towards overall figures and
  breaks other speakers' monologues, but gets no per-speaker entry and is never counted as
  interrupting or interrupted (we cannot tell whose voice it is).
- Event timestamps come from word timings when the words still line up with the segment's text
  (a person may have edited the text since), else from the segment's start.
- Filler counts are a lower bound: Whisper learned from transcripts that mostly leave
  disfluencies out, so it silently drops many of the "um"s and "uh"s that were actually said.
"""

from __future__ import annotations

import bisect
import itertools
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

# A speaker's consecutive segments belong to one monologue while the silence between them is
# shorter than this; a longer pause ends the monologue even if nobody else speaks.
MONOLOGUE_GAP_SECONDS = 2.0

# Only unambiguous fillers. Words like "like", "so" or "well" are far more often meant than filler,
# so counting them would mostly count ordinary speech. The phrases can still be meant literally
# ("what kind of plan"), which is accepted: they are a common, recognised coaching signal.
FILLERS: tuple[str, ...] = (
    "um",
    "uh",
    "uhm",
    "erm",
    "er",
    "hmm",
    "you know",
    "I mean",
    "sort of",
    "kind of",
)

# Drawn-out spellings ("umm", "uhhh", "hmmmm") are the same filler.
_ELONGATED_FILLERS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"u+m+"), "um"),
    (re.compile(r"u+h+"), "uh"),
    (re.compile(r"u+h+m+"), "uhm"),
    (re.compile(r"e+r+m+"), "erm"),
    (re.compile(r"h+m+"), "hmm"),
)

_WORD_RE = re.compile(r"[\w']+")
_NOT_ALNUM_RE = re.compile(r"[\W_]+")
# A sentence ends at ".", "?" or "!", possibly followed by closing quotes or brackets.
_SENTENCE_MARKS = ".?!"
_CLOSERS = "\"'”’)]"


class SegmentLike(Protocol):
    start: float
    end: float
    text: str
    speaker: str
    words: Sequence[Any]


@dataclass(frozen=True)
class _Token:
    """One whitespace-separated piece of a segment's text, with the best time we know for it."""

    text: str
    start: float
    end: float


# --- Small shared helpers -------------------------------------------------------------------


def speaker_of(segment: SegmentLike) -> str:
    """The segment's speaker, "" when unlabelled."""
    return (getattr(segment, "speaker", "") or "").strip()


def _field(word: Any, key: str) -> Any:
    return word.get(key) if isinstance(word, Mapping) else getattr(word, key, None)


def _round(seconds: float) -> float:
    return round(seconds, 3)


def _share(part: float, whole: float) -> float:
    return round(part / whole, 4) if whole > 0 else 0.0


def _alnum(text: str) -> str:
    # Only letters and digits: the pattern drops exactly what str.isalnum rejects.
    return _NOT_ALNUM_RE.sub("", text.lower())


def normalise_words(text: str) -> list[str]:
    """Lower-case words with punctuation dropped; hyphens split words ("30-day" -> 30, day)."""
    text = text.lower().replace("’", "'")
    return [w.strip("'") for w in _WORD_RE.findall(text) if w.strip("'")]


def speaker_names(segments: Iterable[SegmentLike]) -> list[str]:
    """The labelled speakers in order of first appearance ("" is left out)."""
    names: list[str] = []
    for segment in segments:
        name = speaker_of(segment)
        if name and name not in names:
            names.append(name)
    return names


def time_order(segments: Sequence[SegmentLike]) -> list[int]:
    """The segments' positions in time order. Stable: segments starting together keep their
    stored order."""
    return sorted(range(len(segments)), key=lambda i: segments[i].start)


def _union_seconds(intervals: Iterable[tuple[float, float]]) -> float:
    total, current_start, current_end = 0.0, None, None
    for start, end in sorted(intervals):
        if end <= start:
            continue
        if current_end is None or start > current_end:
            if current_end is not None:
                total += current_end - current_start
            current_start, current_end = start, end
        else:
            current_end = max(current_end, end)
    if current_end is not None:
        total += current_end - current_start
    return total


def effective_duration(segments: Sequence[SegmentLike], duration: float) -> float:
    """The call's length; an unknown (0) one falls back to the end of the last speech."""
    if duration and duration > 0:
        return float(duration)
    return max((float(s.end) for s in segments), default=0.0)


# --- Word timings -----------------------------------------------------------------------------


def _word_timings(words: Sequence[Any]) -> list[tuple[str, float, float]] | None:
    timed = []
    for word in words:
        text, start, end = _field(word, "word"), _field(word, "start"), _field(word, "end")
        if text is None or start is None or end is None:
            return None
        timed.append((str(text), float(start), float(end)))
    return timed or None


def _tokens(segment: SegmentLike) -> list[_Token]:
    """The segment's text split on whitespace, each piece timed from the words when possible.

    Words are matched to the text by their letters and digits alone, because engines differ in
    whether words carry leading spaces and punctuation. If the letters differ (the text was
    edited), every piece gets the segment's own times.
    """
    pieces = segment.text.split()
    timed = _word_timings(getattr(segment, "words", None) or [])
    fallback = [_Token(p, float(segment.start), float(segment.end)) for p in pieces]
    if timed is None:
        return fallback
    # owner[k] is the index of the word that holds the k-th letter of the whole segment.
    owner = [i for i, (text, _, _) in enumerate(timed) for _ in _alnum(text)]
    if "".join(_alnum(text) for text, _, _ in timed) != _alnum(segment.text) or not owner:
        return fallback
    tokens, position = [], 0
    for piece in pieces:
        length = len(_alnum(piece))
        # Pure punctuation ("-", "...") takes the time of the letter that follows it.
        first = owner[min(position, len(owner) - 1)]
        last = owner[min(position + length, len(owner)) - 1] if length else first
        tokens.append(_Token(piece, timed[first][1], timed[last][2]))
        position += length
    return tokens


def _indexed_words(segment: SegmentLike) -> list[tuple[str, _Token]]:
    """Normalised words, each with the token it came from (so with its time)."""
    return [(word, token) for token in _tokens(segment) for word in normalise_words(token.text)]


def _spoken_span(segment: SegmentLike) -> tuple[float, float]:
    """When the speaker is actually talking: Whisper pads segment bounds, word times are tighter."""
    timed = _word_timings(getattr(segment, "words", None) or [])
    if timed:
        return min(t[1] for t in timed), max(t[2] for t in timed)
    return float(segment.start), float(segment.end)


def sentence_ending(text: str) -> str:
    """The run of ".", "?" and "!" that ends a sentence in `text` ("" if it does not end one).

    String methods rather than a regular expression: a search for an anchored run backtracks at
    every position of a long run of dots that is not at the end ("....x"), which is quadratic.
    """
    stripped = text.rstrip(_CLOSERS)
    return stripped[len(stripped.rstrip(_SENTENCE_MARKS)) :]


def word_count(text: str) -> int:
    """Whitespace-separated pieces holding at least one letter or digit ("-" is not a word)."""
    return sum(1 for piece in text.split() if any(ch.isalnum() for ch in piece))


# --- Metrics ----------------------------------------------------------------------------------


# Heard speech: (speaker, start, end) stretches where voice-activity detection heard someone.
HeardSpeech = Sequence[tuple[str, float, float]]


def attribute_heard(
    spans: Iterable[tuple[float, float]],
    layers: Sequence[Sequence[tuple[float, float, str]]],
) -> list[tuple[str, float, float]]:
    """Speech voice-activity detection heard on a mixed channel, given to the speakers who
    said it: (speaker, start, end) pieces for talk_time and silence.

    `layers` are (start, end, speaker) stretches, the most trusted first (a call's lines with
    the voice people gave them, then the turns diarization found): a piece of a span goes to
    the speakers of the first layer that covers it, and a piece no layer covers to the nearest
    stretch of any layer, so every second heard is someone's and talk time stays measured on
    what was heard.
    """
    covered = _cover(layers)
    if not covered:
        return [("", float(a), float(b)) for a, b in spans if b > a]
    starts = [c[0] for c in covered]
    pieces: list[tuple[str, float, float]] = []
    for a, b in spans:
        a, b = float(a), float(b)
        if b <= a:
            continue
        at = a
        i = max(0, bisect.bisect_right(starts, a) - 1)
        while at < b:
            while i < len(covered) and covered[i][1] <= at:
                i += 1
            nxt = covered[i] if i < len(covered) else None
            if nxt is not None and nxt[0] <= at:
                until = min(b, nxt[1])
                pieces += [(name, at, until) for name in nxt[2]]
            else:
                until = min(b, nxt[0]) if nxt is not None else b
                pieces += [(name, at, until) for name in _nearest(covered, i, at, until)]
            at = until
    return pieces


def _cover(layers: Sequence[Sequence[tuple[float, float, str]]]) -> list[tuple]:
    """Disjoint (start, end, names) stretches in time order: where a layer has speech, its
    speakers; where it has none, the next layer's."""
    result: list[tuple] = []
    for layer in layers:
        ends = [c[1] for c in result]
        gaps_filled = []
        for start, end, names in _flatten(layer):
            # Only the parts of this stretch that no earlier layer covers.
            first = bisect.bisect_right(ends, start)
            for a, b in _uncovered(result, first, start, end):
                gaps_filled.append((a, b, names))
        result = sorted(result + gaps_filled)
    return result


def _flatten(layer: Sequence[tuple[float, float, str]]) -> list[tuple]:
    """One layer's stretches as disjoint (start, end, names), overlaps holding both names."""
    points = sorted({float(p) for start, end, _ in layer if end > start for p in (start, end)})
    if not points:
        return []
    events = sorted((float(s), float(e), n) for s, e, n in layer if e > s)
    flat, active, k = [], [], 0
    for left, right in itertools.pairwise(points):
        while k < len(events) and events[k][0] <= left:
            active.append(events[k])
            k += 1
        active = [e for e in active if e[1] > left]
        names = tuple(sorted({e[2] for e in active}))
        if names:
            if flat and flat[-1][1] == left and flat[-1][2] == names:
                flat[-1] = (flat[-1][0], right, names)
            else:
                flat.append((left, right, names))
    return flat


def _uncovered(
    covered: list[tuple], first: int, start: float, end: float
) -> list[tuple[float, float]]:
    """The parts of [start, end) outside the disjoint, sorted `covered` (from covered[first])."""
    free, at = [], start
    for k in range(first, len(covered)):
        a, b, _ = covered[k]
        if b <= at:
            continue
        if a >= end:
            break
        if a > at:
            free.append((at, a))
        at = max(at, b)
    if at < end:
        free.append((at, end))
    return free


def _nearest(covered: list[tuple], i: int, start: float, end: float) -> tuple:
    """The names of the stretch closest to the gap [start, end) (covered[i] is the next one)."""
    before = covered[i - 1] if i > 0 else None
    after = covered[i] if i < len(covered) else None
    if before is None:
        return after[2]
    if after is None or start - before[1] <= after[0] - end:
        return before[2]
    return after[2]


def talk_time(segments: Sequence[SegmentLike], heard: HeardSpeech = ()) -> dict[str, float]:
    """Seconds each speaker talks ("" for unlabelled speech), overlaps counted for each speaker.

    From what voice-activity detection heard where the engine reports it (speech the transcript
    missed is still talk), else from the lines' times. A speaker's own overlapping stretches
    are merged first so nothing is counted twice.
    """
    intervals: dict[str, list[tuple[float, float]]] = {}
    for segment in segments:
        intervals.setdefault(speaker_of(segment), []).append(
            (float(segment.start), float(segment.end))
        )
    by_vad: dict[str, list[tuple[float, float]]] = {}
    for name, start, end in heard:
        by_vad.setdefault(name, []).append((float(start), float(end)))
    intervals.update(by_vad)
    return {name: _round(_union_seconds(spans)) for name, spans in intervals.items()}


def silence(
    segments: Sequence[SegmentLike], duration: float, heard: HeardSpeech = ()
) -> dict[str, float]:
    """Seconds and share of the call when nobody speaks (the union of all speech, inverted);
    speech is what voice-activity detection heard, where reported, and every line."""
    total = effective_duration(segments, duration)
    spans = [(float(s.start), float(s.end)) for s in segments]
    spans += [(float(start), float(end)) for _name, start, end in heard]
    speech = _union_seconds((max(0.0, start), min(total, end)) for start, end in spans)
    quiet = max(0.0, total - speech)
    return {
        "speech_seconds": _round(speech),
        "silence_seconds": _round(quiet),
        "silence_share": _share(quiet, total),
    }


def _monologue_runs(segments: Sequence[SegmentLike]) -> list[dict[str, Any]]:
    runs: list[dict[str, Any]] = []
    for i in time_order(segments):
        segment, name = segments[i], speaker_of(segments[i])
        last = runs[-1] if runs else None
        if (
            last is not None
            and last["speaker"] == name
            and segment.start - last["end"] < MONOLOGUE_GAP_SECONDS
        ):
            last["end"] = max(last["end"], float(segment.end))
        else:
            runs.append({"speaker": name, "start": float(segment.start), "end": float(segment.end)})
    return runs


def longest_monologue(
    segments: Sequence[SegmentLike], speaker: str | None = None
) -> dict[str, Any] | None:
    """The longest stretch one speaker talks with no other speaker taking a turn.

    A speaker's consecutive segments merge while the silence between them is under
    MONOLOGUE_GAP_SECONDS. Pass `speaker` to get that speaker's longest; None means anyone's.
    Returns {"speaker", "start", "end", "duration"}, or None when there is no such speech.
    """
    runs = [r for r in _monologue_runs(segments) if speaker is None or r["speaker"] == speaker]
    if not runs:
        return None
    # max() keeps the first of equal runs, so ties go to the earliest.
    best = max(runs, key=lambda r: r["end"] - r["start"])
    return {
        "speaker": best["speaker"],
        "start": _round(best["start"]),
        "end": _round(best["end"]),
        "duration": _round(best["end"] - best["start"]),
    }


def words_per_minute(words: int, talk_seconds: float) -> float:
    return round(words / (talk_seconds / 60), 1) if talk_seconds > 0 else 0.0


def _sentences(segments: Sequence[SegmentLike]) -> Iterable[tuple[int, list[_Token]]]:
    """Sentences as (index of the segment they start in, tokens).

    Whisper often cuts a sentence across segments, so an unfinished sentence carries on into the
    next segment when the same speaker says it; otherwise it ends where the speaker changes.
    """
    pending: list[_Token] = []
    pending_index, pending_speaker = -1, None
    for i in time_order(segments):
        if pending and speaker_of(segments[i]) != pending_speaker:
            yield pending_index, pending
            pending = []
        for token in _tokens(segments[i]):
            if not pending:
                pending_index, pending_speaker = i, speaker_of(segments[i])
            pending.append(token)
            if sentence_ending(token.text):
                yield pending_index, pending
                pending = []
    if pending:
        yield pending_index, pending


def questions(segments: Sequence[SegmentLike]) -> list[dict[str, Any]]:
    """Sentences ending in "?" (or "?!"), each {"speaker", "start", "text", "segment"}."""
    found = []
    for index, tokens in _sentences(segments):
        if "?" in sentence_ending(tokens[-1].text):
            found.append(
                {
                    "speaker": speaker_of(segments[index]),
                    "start": _round(tokens[0].start),
                    "text": " ".join(t.text for t in tokens),
                    "segment": index,
                }
            )
    return found


def interruptions(segments: Sequence[SegmentLike]) -> list[dict[str, Any]]:
    """Turns that start while another labelled speaker's segment is still running.

    Each is {"speaker" (who cut in), "interrupted", "start", "overlap" (seconds both talk),
    "segment"}. Spans come from word timings when present, because Whisper's segment bounds
    include padding that would show as overlap. Starting at the same instant is not an
    interruption, nor is anything involving unlabelled speech.
    """
    spans = [_spoken_span(s) for s in segments]
    order = sorted(range(len(segments)), key=lambda i: spans[i][0])
    # For each speaker, the segment reaching furthest among those that started strictly earlier.
    running: dict[str, int] = {}
    found = []
    for group in _same_start_groups(order, spans):
        for i in group:
            interrupted = _interrupted_by(i, segments, spans, running)
            if interrupted is not None:
                start, end = spans[i]
                found.append(
                    {
                        "speaker": speaker_of(segments[i]),
                        "interrupted": speaker_of(segments[interrupted]),
                        "start": _round(start),
                        "overlap": _round(min(end, spans[interrupted][1]) - start),
                        "segment": i,
                    }
                )
        # Only after the whole group was checked: starting together is not cutting in.
        for i in group:
            name = speaker_of(segments[i])
            if name not in running or spans[i][1] > spans[running[name]][1]:
                running[name] = i
    return found


def _same_start_groups(order: list[int], spans: list[tuple[float, float]]) -> list[list[int]]:
    groups: list[list[int]] = []
    for i in order:
        if groups and spans[groups[-1][0]][0] == spans[i][0]:
            groups[-1].append(i)
        else:
            groups.append([i])
    return groups


def _interrupted_by(
    index: int,
    segments: Sequence[SegmentLike],
    spans: list[tuple[float, float]],
    running: dict[str, int],
) -> int | None:
    """The segment that segment `index` cuts into, if any."""
    name, start = speaker_of(segments[index]), spans[index][0]
    if not name:
        return None
    cut_off = [j for other, j in running.items() if other and other != name and start < spans[j][1]]
    # With three or more voices, the one who has held the floor longest was cut off.
    return min(cut_off, key=lambda j: spans[j][0]) if cut_off else None


def filler_counts(segments: Sequence[SegmentLike]) -> dict[str, dict[str, int]]:
    """Per speaker ("" for unlabelled), how often each of FILLERS was said. A lower bound."""
    index = PhraseIndex({"": list(FILLERS)})
    counts: dict[str, dict[str, int]] = {}
    for segment in segments:
        tally = counts.setdefault(speaker_of(segment), dict.fromkeys(FILLERS, 0))
        words = [_canonical_filler(w) for w in normalise_words(segment.text)]
        for _, name, _ in index.scan(words):
            tally[name] += 1
    return counts


def _canonical_filler(word: str) -> str:
    for pattern, filler in _ELONGATED_FILLERS:
        if pattern.fullmatch(word):
            return filler
    return word


class PhraseIndex:
    """Groups of phrases (a tracker's, or the fillers), found in a list of words in one pass.

    Within a group the longest phrase wins at a position and matches do not overlap, so
    "price increase" is not also counted as "price"; groups are matched independently. The
    phrases share one trie of words, so the cost of a scan grows with the number of words times
    the length of the longest phrase, never with the number of phrases (10,000 phrases tried
    one after the other at every word made a call's analytics take minutes).
    """

    def __init__(self, groups: Mapping[str, Sequence[str]]):
        # A node is {word: child}; what ends at a node is under the key None: {group: phrase}.
        self._root: dict = {}
        for group, phrases in groups.items():
            for phrase in phrases:
                words = normalise_words(phrase)
                if not words:
                    continue
                node = self._root
                for word in words:
                    node = node.setdefault(word, {})
                # The first of two phrases with the same words names the match.
                node.setdefault(None, {}).setdefault(group, phrase)

    def scan(self, words: Sequence[str]) -> list[tuple[str, str, int]]:
        """(group, phrase, position) of each match, in order of position."""
        found: list[tuple[str, str, int]] = []
        free_from: dict[str, int] = {}  # each group's next position not inside a match
        for position in range(len(words)):
            longest: dict[str, tuple[str, int]] = {}
            node, end = self._root, position
            while end < len(words) and words[end] in node:
                node, end = node[words[end]], end + 1
                for group, phrase in node.get(None, {}).items():
                    longest[group] = (phrase, end)
            for group, (phrase, stop) in longest.items():
                if free_from.get(group, 0) <= position:
                    found.append((group, phrase, position))
                    free_from[group] = stop
        return found


def _tracker_groups(trackers: Mapping[str, Any] | None) -> dict[str, list[str]]:
    # A lone string is taken as one phrase rather than split into its characters.
    return {
        name: [phrases] if isinstance(phrases, str) else list(phrases)
        for name, phrases in (trackers or {}).items()
    }


def tracker_hits(
    segments: Sequence[SegmentLike], trackers: Mapping[str, Sequence[str]] | None
) -> list[dict[str, Any]]:
    """Whole-word, case-insensitive phrase matches, punctuation ignored ("Price, increase" matches
    "price increase"). Each hit is {"tracker", "phrase", "speaker", "start", "segment"}, in time
    order; a phrase must lie within one segment.
    """
    groups = _tracker_groups(trackers)
    index = PhraseIndex(groups)
    order = {name: n for n, name in enumerate(groups)}
    hits = []
    for i in time_order(segments):
        indexed = _indexed_words(segments[i])
        found = index.scan([w for w, _ in indexed])
        # Tracker by tracker, as people list them, then by position.
        for tracker, phrase, position in sorted(found, key=lambda f: (order[f[0]], f[2])):
            hits.append(
                {
                    "tracker": tracker,
                    "phrase": phrase,
                    "speaker": speaker_of(segments[i]),
                    "start": _round(indexed[position][1].start),
                    "segment": i,
                }
            )
    hits.sort(key=lambda h: (h["start"], h["segment"]))
    return hits


# --- Assembly ---------------------------------------------------------------------------------


def _count_by(items: Iterable[dict[str, Any]], key: str, value: str) -> int:
    return sum(1 for item in items if item[key] == value)


def _tracker_counts(hits: list[dict[str, Any]], names: Iterable[str], speaker: str | None) -> dict:
    return {
        name: sum(
            1 for h in hits if h["tracker"] == name and (speaker is None or h["speaker"] == speaker)
        )
        for name in names
    }


def _filler_summary(counts: dict[str, int]) -> dict[str, Any]:
    return {"total": sum(counts.values()), "counts": dict(counts)}


def _speaker_entry(
    name: str,
    segments: Sequence[SegmentLike],
    talk: dict[str, float],
    total_talk: float,
    found: dict[str, list[dict[str, Any]]],
    fillers: dict[str, dict[str, int]],
    tracker_names: list[str],
) -> dict[str, Any]:
    words = sum(word_count(s.text) for s in segments if speaker_of(s) == name)
    return {
        "name": name,
        "talk_seconds": talk[name],
        "talk_share": _share(talk[name], total_talk),
        "word_count": words,
        "words_per_minute": words_per_minute(words, talk[name]),
        "longest_monologue": longest_monologue(segments, name),
        "question_count": _count_by(found["questions"], "speaker", name),
        "interruption_count": _count_by(found["interruptions"], "speaker", name),
        "interrupted_count": _count_by(found["interruptions"], "interrupted", name),
        "fillers": _filler_summary(fillers[name]),
        "tracker_counts": _tracker_counts(found["tracker_hits"], tracker_names, name),
    }


def analyse(
    segments: Iterable[SegmentLike],
    duration: float,
    trackers: Mapping[str, Sequence[str]] | None = None,
    heard: HeardSpeech = (),
) -> dict[str, Any]:
    """Every metric for one call as a JSON-serialisable dict with a fixed set of keys.

    See the module docstring for the conventions; seconds are rounded to 3 places, shares
    (0..1) to 4 and words per minute to 1. `heard` is what voice-activity detection heard, where
    the engine reports it: talk time and silence are measured on it.
    """
    segments = list(segments)
    talk = talk_time(segments, heard)
    total_talk = sum(talk.values())
    fillers = filler_counts(segments)
    tracker_names = list(trackers or {})
    found = {
        "questions": questions(segments),
        "interruptions": interruptions(segments),
        "tracker_hits": tracker_hits(segments, trackers),
    }
    words = sum(word_count(s.text) for s in segments)
    overall_fillers = dict.fromkeys(FILLERS, 0)
    for tally in fillers.values():
        for filler, n in tally.items():
            overall_fillers[filler] += n
    names = speaker_names(segments)
    return {
        "duration": _round(effective_duration(segments, duration)),
        "labelled": bool(names),
        "overall": {
            "talk_seconds": _round(total_talk),
            **silence(segments, duration, heard),
            "word_count": words,
            "words_per_minute": words_per_minute(words, total_talk),
            "longest_monologue": longest_monologue(segments),
            "question_count": len(found["questions"]),
            "interruption_count": len(found["interruptions"]),
            "fillers": _filler_summary(overall_fillers),
            "tracker_counts": _tracker_counts(found["tracker_hits"], tracker_names, None),
        },
        "speakers": [
            _speaker_entry(name, segments, talk, total_talk, found, fillers, tracker_names)
            for name in names
        ],
        **found,
    }
