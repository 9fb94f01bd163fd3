"""The call list: sorted by a column, filtered by status, uploader and dates, in pages; rows of
unfinished calls keep polling."""

import re
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from transcripts.models import Call


def titles(client, **params) -> list[str]:
    response = client.get(reverse("transcripts:call_list"), params)
    assert response.status_code == 200
    return re.findall(r'<td><a href="/calls/[^"]+/">(.*?)</a></td>', response.content.decode())


@pytest.fixture
def calls(acme, alice, bob, make_call):
    now = timezone.now()
    made = [
        ("Beta renewal", alice, Call.Status.DONE, 300.0, 1),
        ("alpha discovery", bob, Call.Status.FAILED, 60.0, 3),
        ("Gamma demo", alice, Call.Status.QUEUED, None, 10),
    ]
    for title, user, status, duration, days_ago in made:
        make_call(
            acme,
            user,
            title=title,
            status=status,
            duration=duration,
            created_at=now - timedelta(days=days_ago),
        )


def test_the_newest_calls_come_first(client_for, alice, calls):
    assert titles(client_for(alice)) == ["Beta renewal", "alpha discovery", "Gamma demo"]


@pytest.mark.parametrize(
    "sort, expected",
    [
        ("title", ["alpha discovery", "Beta renewal", "Gamma demo"]),
        ("-title", ["Gamma demo", "Beta renewal", "alpha discovery"]),
        ("created", ["Gamma demo", "alpha discovery", "Beta renewal"]),
        # A call not yet measured has no length: it comes last either way.
        ("-duration", ["Beta renewal", "alpha discovery", "Gamma demo"]),
        ("duration", ["alpha discovery", "Beta renewal", "Gamma demo"]),
        ("status", ["Beta renewal", "alpha discovery", "Gamma demo"]),
        ("nonsense", ["Beta renewal", "alpha discovery", "Gamma demo"]),
    ],
)
def test_it_sorts_by_a_column(client_for, alice, calls, sort, expected):
    assert titles(client_for(alice), sort=sort) == expected


def test_a_column_header_sorts_and_a_second_click_reverses(client_for, alice, calls):
    page = client_for(alice).get(reverse("transcripts:call_list"), {"sort": "title"}).content
    page = page.decode()
    assert 'id="sort-title" data-sort="-title" href="?sort=-title"' in page
    assert 'aria-sort="ascending"' in page
    assert 'id="sort-duration" data-sort="-duration"' in page


def test_it_filters_by_status(client_for, alice, calls):
    assert titles(client_for(alice), status="failed") == ["alpha discovery"]


def test_it_filters_by_uploader(client_for, alice, bob, calls):
    assert titles(client_for(alice), uploader=bob.pk) == ["alpha discovery"]


def test_it_filters_by_dates(client_for, alice, calls):
    today = timezone.localdate()
    since = (today - timedelta(days=5)).isoformat()
    assert titles(client_for(alice), date_from=since) == ["Beta renewal", "alpha discovery"]
    until = (today - timedelta(days=2)).isoformat()
    assert titles(client_for(alice), date_to=until) == ["alpha discovery", "Gamma demo"]


def test_a_bad_filter_is_ignored(client_for, alice, calls):
    assert len(titles(client_for(alice), date_from="not a date", uploader="x")) == 3


def test_no_match_says_so(client_for, alice, calls):
    response = client_for(alice).get(reverse("transcripts:call_list"), {"status": "cancelled"})
    assert "No calls match these filters." in response.content.decode()


def test_an_outsider_is_not_offered_as_an_uploader(client_for, alice, charlie, globex, make_call):
    make_call(globex, charlie, title="Globex call")
    page = client_for(alice).get(reverse("transcripts:call_list")).content.decode()
    assert "charlie" not in page


def test_pages_keep_the_filters_and_order(client_for, alice, acme, make_call):
    for n in range(30):
        make_call(acme, alice, title=f"Call {n:02d}", status=Call.Status.DONE)
    client = client_for(alice)
    response = client.get(reverse("transcripts:call_list"), {"sort": "title", "status": "done"})
    page = response.content.decode()
    assert 'href="?sort=title&amp;status=done&amp;page=2"' in page
    assert titles(client, sort="title", status="done", page=2) == [
        f"Call {n:02d}" for n in range(25, 30)
    ]


def test_only_unfinished_rows_poll(client_for, alice, calls):
    page = client_for(alice).get(reverse("transcripts:call_list"), {"sort": "title"}).content
    assert page.decode().count('hx-trigger="every 2s"') == 1
