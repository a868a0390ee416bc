import datetime
from decimal import Decimal

import factory
from django.contrib.auth.models import User
from django.utils import timezone

from labs.models import Analyte, AnalyteUnit, Panel, ReferenceRange
from patients.models import Patient


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        django_get_or_create = ("username",)

    username = factory.Sequence(lambda n: f"user{n}")
    first_name = factory.Faker("first_name")
    last_name = factory.Faker("last_name")
    password = factory.django.Password("correct-horse-battery")


class PatientFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Patient

    mrn = factory.Sequence(lambda n: f"MRN-{n:05d}")
    given_name = factory.Faker("first_name")
    family_name = factory.Faker("last_name")
    date_of_birth = datetime.date(1970, 6, 15)
    sex = Patient.Sex.FEMALE
    created_by = factory.SubFactory(UserFactory)
    updated_by = factory.SelfAttribute("created_by")


class AnalyteFactory(factory.django.DjangoModelFactory):
    """A made-up analyte; the seeded catalogue (migration labs 0002) is there in every test too."""

    class Meta:
        model = Analyte
        django_get_or_create = ("code",)

    code = factory.Sequence(lambda n: f"test{n}")
    name = factory.Sequence(lambda n: f"Test analyte {n}")
    canonical_unit = "mmol/L"
    display_decimal_places = 1
    plausible_low = Decimal("0.1")
    plausible_high = Decimal("100")


class AnalyteUnitFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = AnalyteUnit

    analyte = factory.SubFactory(AnalyteFactory)
    unit = "mmol/L"
    factor = Decimal("1")
    decimal_places = 2


class ReferenceRangeFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ReferenceRange

    analyte = factory.SubFactory(AnalyteFactory)
    age_min_years = 18
    normal_low = Decimal("1.0")
    normal_high = Decimal("2.0")
    effective_from = datetime.date(2000, 1, 1)


class PanelFactory(factory.django.DjangoModelFactory):
    """A panel without results; record results with tests.recording.record (the `record` fixture)."""

    class Meta:
        model = Panel

    patient = factory.SubFactory(PatientFactory)
    collected_at = factory.LazyFunction(lambda: timezone.now() - datetime.timedelta(days=1))
    entered_by = factory.SelfAttribute("patient.created_by")
