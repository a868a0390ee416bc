"""Comments and specimen condition (issue 12, point 5): on the panel and each result, kept in history,
shown on every page and export; a haemolysed specimen puts a caveat first on a high potassium's finding."""

import io
import json

import pytest
from pypdf import PdfReader

from guidance.models import Finding
from labs.models import Panel, Result, SpecimenCondition

from .test_exports_csv import read_csv
from .test_labs_views import post_panel

pytestmark = pytest.mark.django_db

CAVEAT = (
    "The specimen was haemolysed: this potassium may be spurious (released from broken red cells). Repeat it "
    "on a sample taken without haemolysis before acting on it as a true high."
)


def condition(code):
    return str(SpecimenCondition.objects.get(code=code).pk)


def test_the_seeded_list_is_the_issues(db):
    assert list(SpecimenCondition.objects.values_list("code", flat=True)) == [
        "haemolysed",
        "lipaemic",
        "icteric",
        "clotted",
        "delayed",
    ]


def test_a_haemolysed_high_potassium_is_critical_only_with_the_caveat_and_everything_shows_it(
    clinician_client, patient
):
    response = post_panel(
        clinician_client,
        patient,
        {"k": ("6.5", "mmol/L"), "mg": ("2.0", "mg/dL")},
        specimen_condition=condition("haemolysed"),
        comment="Sample delayed 4 h in the porter's bag",
        k_comment="Lab: haemolysis index 3+",
        follow=True,
    )
    panel = Panel.objects.get()
    potassium = Result.objects.get(analyte__code="k")
    assert (panel.specimen_condition.code, panel.comment) == ("haemolysed", "Sample delayed 4 h in the porter's bag")
    assert potassium.comment == "Lab: haemolysis index 3+"
    assert potassium.history.get().comment == "Lab: haemolysis index 3+"  # kept in history
    finding = Finding.objects.get(result=potassium)
    assert finding.critical and finding.summary.startswith(CAVEAT)

    page = response.content.decode().replace("&#x27;", "'")
    assert "Specimen: haemolysed" in page
    assert "Comment: Sample delayed 4 h in the porter's bag" in page and "Comment: Lab: haemolysis index 3+" in page

    finding_page = clinician_client.get(f"/guidance/findings/{finding.pk}/").content.decode().replace("&#x27;", "'")
    assert "Specimen: haemolysed" in finding_page and "Result comment: Lab: haemolysis index 3+" in finding_page
    assert CAVEAT in finding_page

    rows = read_csv(clinician_client.get(f"/patients/{patient.pk}/results.csv"))
    row = dict(zip(rows[0], next(r for r in rows[1:] if r[3] == "Potassium"), strict=True))
    assert (row["specimen condition"], row["panel comment"], row["result comment"]) == (
        "Haemolysed",
        "Sample delayed 4 h in the porter's bag",
        "Lab: haemolysis index 3+",
    )

    bundle = json.loads(clinician_client.get(f"/patients/{patient.pk}/fhir/").content)
    observation = next(
        e["resource"]
        for e in bundle["entry"]
        if e["resource"]["resourceType"] == "Observation" and e["resource"]["code"]["text"] == "Potassium"
    )
    assert [note["text"] for note in observation["note"]] == [
        "Specimen condition: haemolysed.",
        "Panel comment: Sample delayed 4 h in the porter's bag",
        "Comment: Lab: haemolysis index 3+",
    ]

    summary = clinician_client.get(f"/patients/{patient.pk}/summary/").content.decode().replace("&#x27;", "'")
    note = "Potassium: specimen haemolysed; Sample delayed 4 h in the porter's bag; Lab: haemolysis index 3+"
    assert note in summary
    pdf = clinician_client.get(f"/patients/{patient.pk}/summary.pdf")
    text = " ".join(p.extract_text() for p in PdfReader(io.BytesIO(pdf.content)).pages).replace("\n", " ")
    assert "Potassium: specimen haemolysed" in text


@pytest.mark.parametrize(
    "value, specimen",
    [
        ("6.5", "lipaemic"),  # another condition casts no doubt on potassium
        ("6.5", None),  # no condition reported
        ("3.0", "haemolysed"),  # haemolysis raises potassium: a low one is not in doubt
    ],
)
def test_no_caveat_otherwise(clinician_client, patient, value, specimen):
    extra = {"specimen_condition": condition(specimen)} if specimen else {}
    post_panel(clinician_client, patient, {"k": (value, "mmol/L")}, **extra)
    assert "haemolysed" not in Finding.objects.get().summary


@pytest.mark.parametrize(
    "field, value, message",
    [
        ("comment", "x" * 100_000, "Panel comment: at most 2000 characters (this one has 100000)."),
        ("k_comment", "x" * 2001, "Potassium comment: at most 2000 characters (this one has 2001)."),
        ("specimen_condition", "999999", "Choose a specimen condition from the list, or “None reported”."),
        ("specimen_condition", "haemolysed", "Choose a specimen condition from the list, or “None reported”."),
    ],
)
def test_bad_comment_or_condition_is_a_message_and_nothing_is_saved(clinician_client, patient, field, value, message):
    response = post_panel(clinician_client, patient, {"k": ("4.0", "mmol/L")}, **{field: value})
    assert response.status_code == 200
    assert response.context["form"].errors[field] == [message]
    assert not Panel.objects.exists()


def test_a_retired_condition_is_not_offered_and_refused(clinician_client, patient):
    SpecimenCondition.objects.filter(code="clotted").update(active=False)
    page = clinician_client.get(f"/patients/{patient.pk}/results/new/").content.decode()
    assert "Clotted" not in page and "Haemolysed" in page
    response = post_panel(clinician_client, patient, {"k": ("4.0", "mmol/L")}, specimen_condition=condition("clotted"))
    assert "specimen_condition" in response.context["form"].errors and not Panel.objects.exists()


def test_administrators_keep_the_list_and_clinicians_only_read_it(admin_client_, clinician):
    data = {"code": "contaminated", "name": "Contaminated", "sort_order": "60", "active": "on"}
    assert admin_client_.post("/admin/labs/specimencondition/add/", data).status_code == 302
    assert SpecimenCondition.objects.filter(code="contaminated").exists()
    clotted = SpecimenCondition.objects.get(code="clotted")
    assert admin_client_.get(f"/admin/labs/specimencondition/{clotted.pk}/delete/").status_code == 403
    admin_client_.force_login(clinician)  # the same browser, now the clinician's
    assert admin_client_.post("/admin/labs/specimencondition/add/", {**data, "code": "x"}).status_code == 302
    assert not SpecimenCondition.objects.filter(code="x").exists()  # sent to the login page: not staff
