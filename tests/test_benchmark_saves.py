"""make bench's panel saves (benchmarks/run.py: panel_bodies, played by benchmarks/wrk.lua): each body it
sends is a save that succeeds, once. When every body was refused (one-time form keys), the bench measured
the refusal page instead of a save without anyone noticing."""

import urllib.parse

from benchmarks import run
from labs.models import Panel
from patients.roles import CLINICIAN
from tests.factories import UserFactory


def test_each_bench_body_saves_one_panel_and_a_repeated_one_saves_nothing(client, roles, patient):
    bench_user = UserFactory(username=run.BENCH_USER)
    bench_user.groups.add(roles[CLINICIAN])
    client.force_login(bench_user)
    url = f"/patients/{patient.pk}/results/new/"
    first, second = (dict(urllib.parse.parse_qsl(body)) for body in run.panel_bodies(patient, 2))

    assert client.post(url, first).status_code == 302
    assert client.post(url, second).status_code == 302
    repeated = client.post(url, first)

    assert repeated.status_code == 200
    assert "This form was already saved" in repeated.content.decode()
    panels = Panel.objects.filter(patient=patient).order_by("collected_at")
    assert [f"{panel.collected_at:%Y-%m-%d %H:%M}" for panel in panels] == ["2020-01-01 00:00", "2020-01-01 00:01"]
    assert [panel.results.count() for panel in panels] == [6, 6]
