"""Searching across calls: words said (full-text on PostgreSQL, LIKE on SQLite), titles,
speakers and trackers; results link to the moment, and only the searcher's teams are searched."""

import re

import pytest
from django.db import connection
from django.urls import reverse

from transcripts import selectors
from transcripts.models import Call


def search(client, q: str, **params) -> str:
    response = client.get(reverse("transcripts:search"), {"q": q, **params})
    assert response.status_code == 200
    return response.content.decode()


def result_titles(page: str) -> list[str]:
    return re.findall(r'<a class="result-title" href="[^"]+">(.*?)</a>', page)


def test_it_finds_a_phrase_and_links_to_its_moment(client_for, alice, dual_call):
    page = search(client_for(alice), "send over a proposal")
    assert result_titles(page) == ["Discovery call with Initech"]
    link = f"{dual_call.get_absolute_url()}#t=19.50"
    assert f'<a class="result-line" href="{link}" data-seconds="19.50">' in page
    assert "<mark>send</mark> <mark>over</mark> <mark>a</mark> <mark>proposal</mark>" in page


def test_the_count_agrees_with_its_number(client_for, alice, acme, make_dual_call, dual_call):
    client = client_for(alice)
    assert "1 call matches “proposal”." in search(client, "proposal")
    make_dual_call(acme, alice, title="Renewal with Hooli")
    assert "2 calls match “proposal”." in search(client, "proposal")


def test_a_nul_in_the_query_is_ignored(client_for, alice, dual_call):
    # PostgreSQL refuses a NUL in a query; the page answers as if it were not there.
    client = client_for(alice)
    page = search(client, "pricing\x00")
    assert "1 call matches “pricing”." in page
    assert result_titles(page) == result_titles(search(client, "pricing"))


def test_every_word_must_be_said(client_for, alice, dual_call):
    assert "No transcribed call matches" in search(client_for(alice), "proposal zebra")


def test_postgresql_finds_other_forms_of_a_word(client_for, alice, dual_call):
    if connection.vendor != "postgresql":
        pytest.skip("stemming is PostgreSQL's full-text search")
    page = search(client_for(alice), "prices")
    assert "the <mark>pricing</mark> of other tools" in page


def test_postgresql_uses_the_full_text_index(dual_call):
    if connection.vendor != "postgresql":
        pytest.skip("the GIN index exists on PostgreSQL only")
    from django.contrib.postgres.search import SearchQuery, SearchVector

    from transcripts.models import Segment

    query = (
        Segment.objects.annotate(document=SearchVector("text", config="english"))
        .filter(document=SearchQuery("proposal", config="english", search_type="websearch"))
        .values("pk")
    )
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        plan = query.explain()
    assert "segment_text_search" in plan


def test_calls_with_more_matches_come_first(client_for, alice, acme, make_dual_call):
    make_dual_call(acme, alice, title="One mention", lines=[(0, 1.0, 3.0, "We sent a proposal.")])
    make_dual_call(
        acme,
        alice,
        title="Three mentions",
        lines=[
            (0, 1.0, 3.0, "Here is the proposal."),
            (1, 4.0, 6.0, "The proposal looks good."),
            (0, 7.0, 9.0, "I will update the proposal."),
        ],
    )
    page = search(client_for(alice), "proposal")
    assert result_titles(page) == ["Three mentions", "One mention"]


def test_it_finds_a_call_by_its_title(client_for, alice, dual_call):
    page = search(client_for(alice), "initech")
    assert result_titles(page) == ["Discovery call with <mark>Initech</mark>"]
    assert "title matches" in page


def test_it_finds_a_call_by_a_speakers_name(client_for, alice, dual_call):
    dual_call.rename_speakers({"Customer": "Sarah Lee"})
    page = search(client_for(alice), "Sarah Lee")
    assert result_titles(page) == ["Discovery call with Initech"]
    assert "speakers: Sarah Lee" in page


def test_a_trackers_name_finds_the_moments_its_phrases_were_said(client_for, alice, dual_call):
    page = search(client_for(alice), "next steps")
    lines = re.findall(
        r'href="[^"]+#t=([\d.]+)"[^>]*>.*?<span class="tracker-tag">(.*?)</span>', page
    )
    assert ("19.50", "Next steps") in lines and ("23.50", "Next steps") in lines


def test_another_teams_calls_never_appear(
    client_for, alice, charlie, globex, dual_call, make_dual_call
):
    make_dual_call(globex, charlie, title="Globex renewal")
    alice_page = search(client_for(alice), "proposal")
    assert result_titles(alice_page) == ["Discovery call with Initech"]
    charlie_page = search(client_for(charlie), "proposal")
    assert result_titles(charlie_page) == ["Globex renewal"]
    assert str(dual_call.uuid) not in charlie_page
    for q in ("Initech", "Customer", "Pricing"):
        assert str(dual_call.uuid) not in search(client_for(charlie), q)


def test_the_team_being_looked_at_narrows_the_search(
    client_for, alice, acme, globex, dual_call, make_dual_call
):
    from transcripts.models import Membership

    Membership.objects.create(user=alice, team=globex)
    make_dual_call(globex, alice, title="Globex renewal")
    client = client_for(alice)
    assert len(result_titles(search(client, "proposal"))) == 2
    client.post(reverse("transcripts:team_switch"), {"team": "globex"})
    assert result_titles(search(client, "proposal")) == ["Globex renewal"]


def test_calls_still_being_transcribed_are_not_searched(client_for, alice, acme, make_call):
    call = make_call(acme, alice, title="Proposal call", status=Call.Status.PROCESSING)
    call.segments.create(index=0, start=0, end=2, text="About the proposal.")
    assert "No transcribed call matches" in search(client_for(alice), "proposal")


def test_an_empty_search_shows_the_form(client_for, alice, dual_call):
    page = search(client_for(alice), "   ")
    assert 'id="search-input"' in page and "result-count" not in page


def test_results_are_escaped(client_for, alice, acme, make_dual_call):
    make_dual_call(
        acme, alice, title="<b>bold</b>", lines=[(0, 1.0, 2.0, "<img src=x onerror=alert(1)> deal")]
    )
    page = search(client_for(alice), "deal")
    assert (
        "<img src=x" not in page and "&lt;img src=x onerror=alert(1)&gt; <mark>deal</mark>" in page
    )
    assert "&lt;b&gt;bold&lt;/b&gt;" in page


def test_search_terms_keep_quoted_phrases_and_drop_operators():
    assert selectors.search_terms('"next step" -price pricing or demo') == [
        "next step",
        "pricing",
        "demo",
    ]


def test_a_line_matching_for_several_reasons_is_listed_and_counted_once(alice, dual_call):
    # "pricing" is said on one line, and that line and another hold phrases of the Pricing
    # tracker ("pricing", "per user", "discount", "contract").
    (result,) = selectors.search_calls(alice, "pricing")
    assert [line.text[:20] for line in result.lines] == [
        "We type them by hand",
        "Our plan costs forty",
    ]
    assert result.line_count == 2
