"""Delta findings (guidance.services.evaluate_deltas): a change beyond the analyte's delta rule opens a
finding even when both values are within range, and recording, correcting or withdrawing either result
brings it in line. The shipped potassium rule: change > 14.9 % (reference change value) within 7 days."""

import datetime
from dataclasses import replace
from decimal import Decimal as D

import pytest
from django.utils import timezone

from guidance.models import Finding, Severity
from guidance.services import correct_result, mark_entered_in_error, record_results
from labs.models import AnalyteUnit, DeltaRule, Result, read_neighbours

from .recording import entry

pytestmark = pytest.mark.django_db


def at(day, hour=9):
    return timezone.make_aware(datetime.datetime(2026, 3, day, hour))


def delta_findings():
    return Finding.objects.filter(delta_rule__isnull=False).select_related("result", "previous_result")


def open_deltas():
    """(value, previous value) of each delta finding still open, as text."""
    return sorted(
        (str(f.result.value.normalize()), str(f.previous_result.value.normalize()))
        for f in delta_findings().exclude(status=Finding.Status.RESOLVED)
    )


def potassium(panel):
    return panel.results.get(analyte__code="k")


def test_potassium_3_6_to_5_1_in_two_days_opens_a_delta_finding_though_both_are_in_range(record, patient):
    first = potassium(record(patient, {"k": "3.6"}, at=at(1)))
    second = potassium(record(patient, {"k": "5.1"}, at=at(3)))

    finding = delta_findings().get()
    assert (first.flag, second.flag) == ("N", "N")
    assert (finding.result, finding.previous_result, finding.delta_rule.analyte.code) == (second, first, "k")
    assert (finding.status, finding.severity, finding.critical) == ("open", Severity.PROMPT, False)
    assert finding.topic.slug == "delta-check"
    assert finding.title == "Potassium: large change since the previous result (delta check)"
    assert "change > 14.9 % (reference change value) within 7 days" in finding.summary
    # The range rules see two normal values: this is the only finding.
    assert Finding.objects.count() == 1


@pytest.mark.parametrize(
    "previous, current, days, fires",
    [
        ("4.0", "4.59", 2, False),  # +14.75 %: inside the RCV
        ("4.0", "4.6", 2, True),  # +15 %
        ("4.0", "3.4", 2, True),  # −15 %, falling counts too
        ("4.0", "4.6", 7, True),  # exactly the window
        ("4.0", "4.6", 8, False),  # a day past it
    ],
)
def test_the_rule_and_window_decide(record, patient, previous, current, days, fires):
    record(patient, {"k": previous}, at=at(1))
    record(patient, {"k": current}, at=at(1 + days))
    assert delta_findings().exists() is fires


def test_only_the_previous_valid_result_is_compared(record, patient, clinician):
    record(patient, {"k": "3.6"}, at=at(1))
    middle = potassium(record(patient, {"k": "5.0"}, at=at(2)))
    record(patient, {"k": "5.1"}, at=at(3))
    assert open_deltas() == [("5", "3.6")]  # 5.1 from 5.0 is +2 %: no finding

    mark_entered_in_error(middle, reason="wrong patient", by=clinician)

    # 5.0 no longer counts: its finding is resolved, and 5.1 is now compared with 3.6.
    assert open_deltas() == [("5.1", "3.6")]
    resolved = delta_findings().get(status=Finding.Status.RESOLVED)
    assert resolved.result == middle
    assert resolved.resolution_note == "Potassium marked entered in error: wrong patient"


def test_correcting_the_earlier_result_re_evaluates_the_next(record, patient, clinician):
    first = potassium(record(patient, {"k": "3.6"}, at=at(1)))
    record(patient, {"k": "5.1"}, at=at(3))
    assert open_deltas() == [("5.1", "3.6")]

    correct_result(
        first,
        value=D("5.0"),
        unit=AnalyteUnit.objects.get(analyte__code="k", unit="mmol/L"),
        reason="typo",
        by=clinician,
    )

    assert open_deltas() == []
    assert delta_findings().get().resolution_note == "Potassium corrected to 5.0 mmol/L (normal): typo"


def test_correcting_the_later_result_into_a_large_change_opens_one(record, patient, clinician):
    record(patient, {"k": "4.0"}, at=at(1))
    later = potassium(record(patient, {"k": "4.1"}, at=at(2)))
    assert open_deltas() == []

    correct_result(
        later,
        value=D("5.1"),
        unit=AnalyteUnit.objects.get(analyte__code="k", unit="mmol/L"),
        reason="misread",
        by=clinician,
    )

    assert open_deltas() == [("5.1", "4")]


def test_a_result_entered_late_between_two_is_compared_both_ways(record, patient):
    record(patient, {"k": "4.0"}, at=at(1))
    record(patient, {"k": "4.1"}, at=at(5))
    assert open_deltas() == []

    record(patient, {"k": "5.2"}, at=at(3))  # collected between them, entered last

    # 5.2 from 4.0 (+30 %) and then 4.1 from 5.2 (−21 %): two findings.
    assert open_deltas() == [("4.1", "5.2"), ("5.2", "4")]


def test_withdrawing_the_later_result_resolves_its_finding(record, patient, clinician):
    record(patient, {"k": "3.6"}, at=at(1))
    second = potassium(record(patient, {"k": "5.1"}, at=at(3)))

    mark_entered_in_error(second, reason="haemolysed", by=clinician)

    assert open_deltas() == []


def test_analytes_without_a_rule_and_inactive_rules_open_nothing(record, patient):
    record(patient, {"vitd25": "10", "ca": "9.0"}, at=at(1))
    DeltaRule.objects.filter(analyte__code="ca").update(active=False)
    record(patient, {"vitd25": "30", "ca": "10.0"}, at=at(2))  # +200 % vitamin D, +11 % calcium
    assert not delta_findings().exists()


def test_the_panels_own_findings_do_not_resolve_a_delta_finding(record, patient, clinician):
    record(patient, {"k": "3.6"}, at=at(1))
    panel = record(patient, {"k": "5.1", "mg": "1.5"}, at=at(3))
    correct_result(
        panel.results.get(analyte__code="mg"),
        value=D("1.4"),
        unit=AnalyteUnit.objects.get(analyte__code="mg", unit="mg/dL"),
        reason="typo",
        by=clinician,
    )
    assert open_deltas() == [("5.1", "3.6")]
    assert Result.objects.count() == 3


DELTA_SHOWN = "Δ +1.5 mmol/L (+41.7 %) from 3.6 on 1 Mar 2026"


@pytest.fixture
def delta_finding(record, patient):
    record(patient, {"k": "3.6"}, at=at(1))
    record(patient, {"k": "5.1"}, at=at(3))
    return delta_findings().get()


@pytest.mark.parametrize("page", ["finding", "worklist", "patient page"])
def test_the_change_is_shown_with_the_previous_value_and_date(clinician_client, delta_finding, page):
    url = {
        "finding": delta_finding.get_absolute_url(),
        "worklist": "/",
        "patient page": delta_finding.patient.get_absolute_url(),
    }[page]
    response = clinician_client.get(url)
    assert response.status_code == 200
    assert DELTA_SHOWN in response.content.decode()


def test_the_finding_page_names_the_previous_result_and_the_rule(clinician_client, delta_finding):
    page = clinician_client.get(delta_finding.get_absolute_url()).content.decode()
    assert "previous result 3.6 mmol/L, collected 1 Mar 2026 09:00" in page
    assert "rule: change &gt; 14.9 % (reference change value) within 7 days" in page
    assert "A large change since the previous result (delta check)" in page  # the topic's link


def test_a_censored_potassium_opens_a_delta_finding_only_when_every_value_it_admits_would(
    clinician, clinician_client, patient
):
    def censored(comparator, value, day):
        panel = record_results(
            patient=patient,
            collected_at=at(day),
            entries=[replace(entry("k", value), comparator=comparator)],
            by=clinician,
        )
        return potassium(panel)

    first = potassium(record_results(patient=patient, collected_at=at(1), entries=[entry("k", "3.6")], by=clinician))
    censored("<", "4.0", 2)  # below 4.0: up to +11 % from 3.6, or a fall: not judged
    assert delta_findings().count() == 0
    high = censored(">", "5.0", 4)  # above 5.0, after "<4.0": a rise of at least 1.0 on at most 4.0 (+25 %)

    finding = delta_findings().get()
    assert (finding.result, finding.previous_result.comparator) == (high, "<")
    assert first.flag == "N"
    html = clinician_client.get(f"/guidance/findings/{finding.pk}/").content.decode()
    assert "Δ at least +1.0 mmol/L from &lt;4.0 on 2 Mar 2026" in html


def test_the_save_reads_each_results_neighbours_as_the_other_pages_do(record, patient, patient_factory, clinician):
    # labs.models.read_neighbours (SQL, on every save) and ResultQuerySet.with_previous (the ORM: the
    # cumulative view, the next results of a late entry) must name the same previous result: the newest
    # valid one collected strictly earlier, the higher id first when two share a time.
    for value, when in [("4.0", at(1)), ("3.8", at(2)), ("4.4", at(2)), ("4.6", at(4))]:
        record(patient, {"k": value}, at=when)
    record_results(
        patient=patient, collected_at=at(6), entries=[replace(entry("k", "3.0"), comparator="<")], by=clinician
    )
    record(patient, {"k": "4.3"}, at=at(8))
    record(patient_factory(created_by=clinician), {"k": "3.9"}, at=at(3))  # another patient's: never a neighbour
    results = list(Result.objects.filter(patient=patient, analyte__code="k").order_by("collected_at", "id"))
    first, tie_low, tie_high, withdrawn, censored, last = results
    mark_entered_in_error(withdrawn, reason="wrong patient", by=clinician)
    withdrawn.refresh_from_db()

    read_neighbours(results)

    annotated = {row.pk: row for row in Result.objects.filter(patient=patient).with_previous()}
    for result in results:
        row = annotated[result.pk]
        assert (result.previous_id, result.previous_value, result.previous_at, result.previous_comparator) == (
            row.previous_id,
            row.previous_value,
            row.previous_at,
            row.previous_comparator,
        )
    assert [r.previous_id for r in results] == [None, first.pk, first.pk, tie_high.pk, tie_high.pk, censored.pk]
    assert (last.previous_value, last.previous_at, last.previous_comparator) == (D("3.0"), at(6), "<")
    # The next valid result, collected strictly later (the lower id first at a shared time); the withdrawn
    # one is passed over.
    assert [r.next_id for r in results] == [tie_low.pk, censored.pk, censored.pk, censored.pk, last.pk, None]
