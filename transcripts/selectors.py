"""Reads: every query of calls a person can see starts here, scoped to their teams."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from uuid import UUID

from django.db import connection
from django.db.models import Avg, Count, F, Min, Q, QuerySet, Value
from django.db.models.functions import Coalesce, Lower, NullIf, TruncWeek
from django.http import Http404, QueryDict
from django.utils import timezone

from .models import Call, Segment, Team, Tracker, TrackerHit


def query_text(params: QueryDict, name: str) -> str:
    """A query-string value with any NUL character removed, "" when absent.

    PostgreSQL refuses a NUL anywhere in a query (a 500), and no search, username or slug has
    one, so the page answers as if it were not there."""
    return params.get(name, "").replace("\x00", "")


def calls_for_user(user) -> QuerySet[Call]:
    return Call.objects.for_user(user).select_related("team", "uploaded_by", "rep")


def call_for_user(user, uuid: UUID) -> Call:
    """The call, if one of the user's teams owns it; 404 otherwise (never 403: a call in another
    team must not even be confirmed to exist)."""
    try:
        return calls_for_user(user).get(uuid=uuid)
    except Call.DoesNotExist:
        raise Http404("No such call.") from None


def teams_for_user(user) -> QuerySet[Team]:
    if not user.is_authenticated:
        return Team.objects.none()
    return Team.objects.filter(memberships__user=user).order_by("name")


def team_for_user(user, slug: str) -> Team:
    """The team, if the user is in it; 404 otherwise."""
    try:
        return teams_for_user(user).get(slug=slug)
    except Team.DoesNotExist:
        raise Http404("No such team.") from None


def active_team(request) -> Team | None:
    """The team the user chose to look at (the team switcher); None shows all their teams."""
    slug = request.session.get("team")
    return teams_for_user(request.user).filter(slug=slug).first() if slug else None


def segment_of_call(call: Call, index: int) -> Segment:
    try:
        return call.segments.get(index=index)
    except Segment.DoesNotExist:
        raise Http404("No such line.") from None


def tracker_of_team(team: Team, tracker_id: int) -> Tracker:
    try:
        return team.trackers.get(pk=tracker_id)
    except Tracker.DoesNotExist:
        raise Http404("No such tracker.") from None


# --- The call list --------------------------------------------------------------------------

CALL_SORTS = {
    "created": F("created_at"),
    "title": Lower(Coalesce(NullIf("title", Value("")), "original_filename")),
    "duration": F("duration"),
    "status": F("status"),
}


def filter_calls(
    calls: QuerySet[Call],
    *,
    status: str = "",
    uploader=None,
    date_from: date | None = None,
    date_to: date | None = None,
    sort: str = "-created",
) -> QuerySet[Call]:
    """The call list's filters and order; `sort` is a key of CALL_SORTS, "-" for descending."""
    if status:
        calls = calls.filter(status=status)
    if uploader is not None:
        calls = calls.filter(uploaded_by=uploader)
    if date_from:
        calls = calls.filter(created_at__date__gte=date_from)
    if date_to:
        calls = calls.filter(created_at__date__lte=date_to)
    key = sort.lstrip("-")
    expression = CALL_SORTS.get(key, CALL_SORTS["created"])
    descending = sort.startswith("-") if key in CALL_SORTS else True
    order = expression.desc(nulls_last=True) if descending else expression.asc(nulls_last=True)
    # The newest first among equals, and a stable order for the pages.
    return calls.order_by(order, "-created_at", "-pk")


def uploaders_for_user(user):
    """People who uploaded calls the user can see, for the call list's filter."""
    from django.contrib.auth import get_user_model

    uploaded = calls_for_user(user).values("uploaded_by")
    return get_user_model().objects.filter(pk__in=uploaded).order_by("username")


# --- Search across calls ----------------------------------------------------------------------

# Lines considered per search, best first, and shown per call.
MAX_SEARCH_LINES = 1000
LINES_PER_RESULT = 5
_TERM_RE = re.compile(r'"([^"]+)"|([\w\'-]+)')


def search_terms(query: str) -> list[str]:
    """The words and "quoted phrases" of a query, lower-cased; search operators dropped."""
    terms = []
    for phrase, word in _TERM_RE.findall(query.lower()):
        term = " ".join(phrase.split()) if phrase else word.strip("-'")
        if term and term != "or" and not word.startswith("-"):
            terms.append(term)
    return terms


def _stem(term: str) -> str:
    # Crude English stemming, enough to find "pricing" from "prices" in a line of text.
    for suffix in ("ing", "ed", "es", "s", "e"):
        if term.endswith(suffix) and len(term) - len(suffix) >= 3:
            return term[: -len(suffix)]
    return term


def term_patterns(query: str) -> list[re.Pattern[str]]:
    """One pattern per term of the query: the term's stem at the start of a word."""
    return [
        re.compile(r"\b" + r"\W+".join(map(re.escape, _stem(term).split())) + r"[\w']*", re.I)
        for term in search_terms(query)
    ]


def text_matches(text: str, patterns: list[re.Pattern[str]]) -> bool:
    return bool(patterns) and all(pattern.search(text) for pattern in patterns)


@dataclass
class SearchLine:
    start: float
    text: str
    speaker: str
    # The tracker whose phrase was heard on this line, when that is why it matched.
    tracker: str = ""


@dataclass
class SearchResult:
    call: Call
    lines: list[SearchLine] = field(default_factory=list)
    line_count: int = 0
    title_match: bool = False
    speakers: list[str] = field(default_factory=list)
    score: float = 0.0
    # The lines listed so far, by segment: a line that matches for several reasons (its words
    # and a tracker's phrase, or several phrases) is listed and counted once.
    by_segment: dict[int, SearchLine] = field(default_factory=dict)

    def add_line(self, segment_id: int, line: SearchLine) -> SearchLine:
        if segment_id in self.by_segment:
            return self.by_segment[segment_id]
        self.line_count += 1
        self.by_segment[segment_id] = line
        if len(self.lines) < LINES_PER_RESULT:
            self.lines.append(line)
        return line


def search_calls(user, query: str, *, team: Team | None = None) -> list[SearchResult]:
    """The user's transcribed calls that match `query` in their words, title, speakers or
    trackers, best first, each with the lines that match.

    PostgreSQL ranks the words with its full-text search (stemmed: "prices" finds "pricing");
    elsewhere every word must appear in a line.
    """
    query = " ".join(query.split())[:200]
    if not search_terms(query):
        return []
    calls = calls_for_user(user).filter(status=Call.Status.DONE)
    if team is not None:
        calls = calls.filter(team=team)
    results: dict[int, SearchResult] = {}

    def result(call_id: int) -> SearchResult:
        return results.setdefault(call_id, SearchResult(call=None))

    segments = Segment.objects.filter(call__in=calls)
    for line in _lines_matching(segments, query):
        found = result(line["call_id"])
        found.score += line["rank"]
        found.add_line(line["id"], SearchLine(line["start"], line["text"], line["speaker"]))

    hits = (
        TrackerHit.objects.filter(call__in=calls, tracker__name__icontains=query)
        .order_by("call", "start")
        .values("call_id", "segment_id", "start", "speaker", "tracker__name", "segment__text")
    )
    for hit in hits[:MAX_SEARCH_LINES]:
        found = result(hit["call_id"])
        found.score += 0.5
        line = found.add_line(
            hit["segment_id"],
            SearchLine(hit["start"], hit["segment__text"], hit["speaker"], hit["tracker__name"]),
        )
        line.tracker = line.tracker or hit["tracker__name"]

    by_speaker = (
        segments.filter(speaker__icontains=query)
        .values("call_id", "speaker")
        .annotate(first=Min("start"))
        .order_by("call_id", "first")
    )
    for row in by_speaker[:MAX_SEARCH_LINES]:
        found = result(row["call_id"])
        found.speakers.append(row["speaker"])
        found.score += 1.0

    titled = calls.filter(Q(title__icontains=query) | Q(original_filename__icontains=query))
    for call_id in titled.values_list("pk", flat=True)[:MAX_SEARCH_LINES]:
        found = result(call_id)
        found.title_match = True
        found.score += 2.0

    for call in calls.filter(pk__in=results):
        results[call.pk].call = call
    for found in results.values():
        found.lines.sort(key=lambda line: line.start)
    return sorted(
        (r for r in results.values() if r.call is not None),
        key=lambda r: (r.score, r.call.created_at),
        reverse=True,
    )


def _lines_matching(segments: QuerySet[Segment], query: str) -> list[dict]:
    fields = ("id", "call_id", "start", "text", "speaker")
    if connection.vendor == "postgresql":
        from django.contrib.postgres.search import SearchQuery, SearchRank, SearchVector

        # The same expression as the GIN index of migration 0005, so the index is used.
        vector = SearchVector("text", config="english")
        terms = SearchQuery(query, config="english", search_type="websearch")
        matching = (
            segments.annotate(document=vector)
            .filter(document=terms)
            .annotate(rank=SearchRank(vector, terms))
            .order_by("-rank", "call_id", "start")
            .values(*fields, "rank")
        )
        return list(matching[:MAX_SEARCH_LINES])
    matching = segments
    for term in search_terms(query):
        matching = matching.filter(text__icontains=term)
    rows = matching.order_by("-call__created_at", "start").values(*fields)[:MAX_SEARCH_LINES]
    return [{**row, "rank": 1.0} for row in rows]


# --- The team dashboard -------------------------------------------------------------------

# Gong's analysis of 25,537 sales calls: reps of the best-converting calls spoke 43% of the time.
BEST_REP_TALK_SHARE = 0.43


@dataclass
class Dashboard:
    team: Team
    since: date
    weeks: list[tuple[date, int]]
    reps: list[dict]
    trackers: list[dict]
    # Calls whose tracker hits are being found again after a tracker changed.
    stale_calls: int
    benchmark: float = BEST_REP_TALK_SHARE

    @property
    def busiest_week(self) -> int:
        return max((count for _, count in self.weeks), default=0)

    @property
    def most_hits(self) -> int:
        return max((t["hits"] for t in self.trackers), default=0)


def team_dashboard(team: Team, *, weeks: int = 12) -> Dashboard:
    """A team's last `weeks` weeks: calls per week, each rep's talk share, tracker hits."""
    today = timezone.localdate()
    monday = today - timedelta(days=today.weekday())
    since = monday - timedelta(weeks=weeks - 1)
    start = timezone.make_aware(datetime.combine(since, datetime.min.time()))
    calls = team.calls.filter(created_at__gte=start)

    per_week = {
        _as_date(row["week"]): row["calls"]
        for row in calls.annotate(week=TruncWeek("created_at"))
        .values("week")
        .annotate(calls=Count("pk"))
        .order_by("week")
    }
    week_list = [
        (since + timedelta(weeks=n), per_week.get(since + timedelta(weeks=n), 0))
        for n in range(weeks)
    ]
    done = calls.filter(status=Call.Status.DONE)
    # By the call's rep, not its uploader: a manager uploading the team's calls is not the
    # one talking on them. Calls without a rep have nobody's share to count.
    reps = [
        {
            "name": row["rep__username"],
            "share": row["share"],
            "calls": row["calls"],
        }
        for row in done.filter(rep_talk_share__isnull=False, rep__isnull=False)
        .values("rep", "rep__username")
        .annotate(share=Avg("rep_talk_share"), calls=Count("pk"))
        .order_by("-calls", "rep__username")
    ]
    trackers = list(
        TrackerHit.objects.filter(call__in=done)
        .values("tracker_id", name=F("tracker__name"))
        .annotate(hits=Count("pk"), calls=Count("call", distinct=True))
        .order_by("-hits", "name")[:10]
    )
    stale = done.with_stale_analytics().count()
    return Dashboard(team, since, week_list, reps, trackers, stale)


def _as_date(value) -> date:
    # TruncWeek gives an aware datetime (PostgreSQL) or a naive one (SQLite).
    if isinstance(value, datetime):
        if timezone.is_aware(value):
            value = timezone.localtime(value)
        return value.date()
    return value
