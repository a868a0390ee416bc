import datetime

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from patients import services
from patients.models import ContributingFactor, Patient

from .factories import PatientFactory

pytestmark = pytest.mark.django_db


def register(user, **overrides):
    fields = {
        "mrn": "MRN-1",
        "given_name": "Ada",
        "family_name": "Lovelace",
        "date_of_birth": datetime.date(1980, 1, 2),
        "sex": Patient.Sex.FEMALE,
    }
    fields.update(overrides)
    return services.register_patient(by=user, **fields)


def test_register_patient_trims_mrn_and_records_who(clinician):
    patient = register(clinician, mrn="  MRN-7  ")
    assert patient.mrn == "MRN-7"
    assert patient.created_by == clinician
    assert patient.updated_by == clinician
    assert patient.history.count() == 1


def test_mrn_is_unique_ignoring_case(clinician):
    register(clinician, mrn="abc-1")
    with pytest.raises(ValidationError) as error:
        register(clinician, mrn="ABC-1")
    assert "already used by another patient" in error.value.message_dict["mrn"][0]
    assert Patient.objects.count() == 1


def test_database_refuses_mrn_differing_only_in_case(clinician):
    PatientFactory(mrn="xyz-9", created_by=clinician)
    with pytest.raises(IntegrityError), transaction.atomic():
        PatientFactory(mrn="XYZ-9", created_by=clinician)


@pytest.mark.parametrize(
    "born, message",
    [
        (datetime.date(1899, 12, 31), "before 1 Jan 1900"),
        ("tomorrow", "in the future"),
    ],
)
def test_date_of_birth_limits(clinician, born, message):
    if born == "tomorrow":  # the clinic's tomorrow when the test runs, not when it was collected
        born = timezone.localdate() + datetime.timedelta(days=1)
    with pytest.raises(ValidationError) as error:
        register(clinician, date_of_birth=born)
    assert message in error.value.message_dict["date_of_birth"][0]


def test_date_of_birth_boundaries_are_allowed(clinician):
    register(clinician, mrn="OLD", date_of_birth=datetime.date(1900, 1, 1))
    register(clinician, mrn="NEW", date_of_birth=timezone.localdate())
    assert Patient.objects.count() == 2


def test_mrn_characters_are_checked(clinician):
    with pytest.raises(ValidationError) as error:
        register(clinician, mrn="MRN 1; DROP")
    assert "may contain only letters, digits" in error.value.message_dict["mrn"][0]


def test_update_records_history_and_factors(clinician, other_clinician):
    patient = register(clinician)
    statin = ContributingFactor.objects.get(code="statin")
    services.update_patient(patient, by=other_clinician, family_name="Byron", contributing_factors=[statin])
    patient.refresh_from_db()
    assert patient.family_name == "Byron"
    assert patient.updated_by == other_clinician
    assert list(patient.contributing_factors.all()) == [statin]
    history = list(patient.history.order_by("history_date"))
    assert history[0].family_name == "Lovelace"
    assert history[-1].family_name == "Byron"
    assert history[-1].history_user is None or history[-1].history_user == other_clinician
    assert [row.contributingfactor for row in history[-1].contributing_factors.all()] == [statin]
    assert list(history[0].contributing_factors.all()) == []


def test_contributing_factors_are_seeded():
    codes = set(ContributingFactor.objects.values_list("code", flat=True))
    assert {
        "limited-sun",
        "diuretic",
        "statin",
        "malabsorption",
        "ckd",
        "older-age",
        "heavy-sweating",
    } <= codes


@pytest.mark.parametrize(
    "today, expected",
    [
        (datetime.date(2020, 3, 14), 40),  # birthday: the year is complete
        (datetime.date(2020, 3, 13), 39),
        (datetime.date(2021, 3, 15), 41),
    ],
)
def test_age_counts_completed_years(today, expected):
    assert Patient(date_of_birth=datetime.date(1980, 3, 14)).age_on(today) == expected


def test_age_for_leap_day_birthday():
    born = Patient(date_of_birth=datetime.date(2000, 2, 29))
    assert born.age_on(datetime.date(2001, 2, 28)) == 0
    assert born.age_on(datetime.date(2001, 3, 1)) == 1


def test_deactivate_keeps_the_record(clinician, administrator):
    patient = register(clinician)
    services.set_patient_active(patient, active=False, by=administrator, reason="Duplicate record")
    assert Patient.objects.filter(pk=patient.pk).exists()
    assert not Patient.objects.active().filter(pk=patient.pk).exists()


def test_search_matches_every_word_in_any_field(clinician):
    register(clinician, mrn="A1", given_name="Ada", family_name="Lovelace")
    register(clinician, mrn="B2", given_name="Ada", family_name="Byron")
    assert [p.mrn for p in Patient.objects.search("ada love")] == ["A1"]
    assert [p.mrn for p in Patient.objects.search("b2")] == ["B2"]
    assert Patient.objects.search("ADA").count() == 2
