"""A team's dashboard: calls per week, each rep's talk share against the 43% benchmark, and the
trackers that come up most; never another team's figures."""

import re
from datetime import timedelta

from django.urls import reverse
from django.utils import timezone

from transcripts.models import Call, Membership


def dashboard(client, **params) -> str:
    response = client.get(reverse("transcripts:dashboard"), params)
    assert response.status_code == 200
    return response.content.decode()


def week_counts(page: str) -> list[int]:
    return [
        int(n) for n in re.findall(r'<div class="week" data-week="[\d-]+" data-count="(\d+)"', page)
    ]


def test_it_counts_calls_per_week(client_for, alice, acme, make_call):
    now = timezone.now()
    for days_ago in (0, 0, 7, 60, 200):
        make_call(acme, alice, created_at=now - timedelta(days=days_ago))
    counts = week_counts(dashboard(client_for(alice)))
    assert len(counts) == 12
    assert counts[-1] == 2 and counts[-2] == 1
    # 60 days ago is in the window, 200 is not.
    assert sum(counts) == 4


def test_it_shows_each_reps_average_talk_share(client_for, alice, bob, acme, make_dual_call):
    make_dual_call(acme, alice)  # the rep talks 16 s of 25.5 s
    quiet = [(0, 0.0, 2.0, "Tell me about your team."), (1, 2.5, 8.5, "We are twelve reps.")]
    make_dual_call(acme, bob, lines=quiet)
    make_dual_call(acme, bob, lines=quiet)
    page = dashboard(client_for(alice))
    shares = dict(re.findall(r'class="rep-share" data-rep="(\w+)" data-share="([\d.]+)"', page))
    assert float(shares["alice"]) == round(16 / 25.5, 4)
    assert float(shares["bob"]) == 0.25
    assert 'class="fill over"' in page  # alice talks more than the best-converting 43%
    assert 'class="benchmark" data-left="43.00"' in page


def test_mono_calls_have_no_rep_share(client_for, alice, acme, make_call):
    call = make_call(acme, alice, status=Call.Status.DONE, duration=10.0, channel_layout="mono")
    call.segments.create(index=0, start=0.0, end=3.0, text="Hello there.")
    call.refresh_analytics()
    assert "No calls with the rep told apart yet" in dashboard(client_for(alice))


def test_it_ranks_the_trackers_that_came_up(client_for, alice, acme, dual_call):
    page = dashboard(client_for(alice))
    hits = re.findall(r'class="tracker-row" data-tracker="([^"]+)" data-hits="(\d+)"', page)
    # Pricing: pricing, costs, per user, discount, contract; next steps: send over, proposal,
    # schedule, demo, next step.
    assert hits == [("Next steps", "5"), ("Pricing", "5")]


def test_another_teams_calls_are_not_counted(
    client_for, alice, charlie, acme, globex, make_dual_call, dual_call
):
    make_dual_call(globex, charlie)
    page = dashboard(client_for(alice))
    assert sum(week_counts(page)) == 1
    assert "charlie" not in page


def test_another_teams_dashboard_is_not_found(client_for, alice, globex):
    response = client_for(alice).get(reverse("transcripts:dashboard"), {"team": globex.slug})
    assert response.status_code == 404


def test_a_member_of_two_teams_picks_the_team(client_for, alice, acme, globex, make_call):
    Membership.objects.create(user=alice, team=globex)
    make_call(globex, alice)
    client = client_for(alice)
    assert sum(week_counts(dashboard(client, team="acme"))) == 0
    assert sum(week_counts(dashboard(client, team="globex"))) == 1


def test_someone_in_no_team_is_told_so(client_for, staff):
    assert "You are not in a team yet" in dashboard(client_for(staff))


def test_a_nul_in_the_team_is_ignored(client_for, alice, acme, make_call):
    # PostgreSQL refuses a NUL in a query; the page answers as if it were not there.
    make_call(acme, alice)
    assert sum(week_counts(dashboard(client_for(alice), team="acme\x00"))) == 1
