import datetime

from django.conf import settings
from django.contrib.auth.models import Group, User
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from patients import services
from patients.models import ContributingFactor, Patient
from patients.roles import ADMINISTRATOR, CLINICIAN

# Demo logins, printed by the command and listed in the README. Local demo only: the command
# refuses to run with DEBUG off.
DEMO_USERS = [
    # username, password, first name, last name, role, is_staff
    ("clinician", "myolab-clinician-demo", "Ada", "Clinic", CLINICIAN, False),
    ("clinician2", "myolab-clinician-demo", "Ben", "Clinic", CLINICIAN, False),
    ("admin", "myolab-admin-demo", "Alex", "Admin", ADMINISTRATOR, True),
]

DEMO_PATIENTS = [
    # mrn, given, family, date of birth, sex, contributing factor codes
    ("DEMO-0001", "Margaret", "Holloway", datetime.date(1948, 3, 14), "female", ["older-age", "diuretic"]),
    ("DEMO-0002", "Samuel", "Okafor", datetime.date(1971, 9, 2), "male", ["statin"]),
    ("DEMO-0003", "Priya", "Raman", datetime.date(1986, 6, 21), "female", ["limited-sun", "malabsorption"]),
    ("DEMO-0004", "Tomasz", "Nowak", datetime.date(1959, 12, 30), "male", ["ckd"]),
    ("DEMO-0005", "Lena", "Fischer", datetime.date(1995, 1, 8), "female", ["heavy-sweating"]),
    ("DEMO-0006", "Jordan", "Ellis", datetime.date(2011, 5, 17), "unknown", []),
]


class Command(BaseCommand):
    help = "Create demo accounts and demo patients for a local demo (idempotent; refuses with DEBUG off)."

    def handle(self, *args, **options):
        if not settings.DEBUG:
            raise CommandError("seed_demo creates accounts with published passwords: it only runs with DEBUG on.")
        with transaction.atomic():
            users = self.seed_users()
            self.seed_patients(by=users["clinician"])
        self.stdout.write("\nDemo logins:")
        for username, password, _, _, role, _ in DEMO_USERS:
            self.stdout.write(f"  {role:<14} {username} / {password}")

    def seed_users(self):
        users = {}
        for username, password, first, last, role, is_staff in DEMO_USERS:
            user, created = User.objects.get_or_create(
                username=username, defaults={"first_name": first, "last_name": last, "is_staff": is_staff}
            )
            if created:
                user.set_password(password)
                user.save()
            user.groups.add(Group.objects.get(name=role))
            users[username] = user
        return users

    def seed_patients(self, *, by):
        created = 0
        for mrn, given, family, born, sex, factor_codes in DEMO_PATIENTS:
            if Patient.objects.filter(mrn__iexact=mrn).exists():
                continue
            services.register_patient(
                by=by,
                mrn=mrn,
                given_name=given,
                family_name=family,
                date_of_birth=born,
                sex=sex,
                contributing_factors=ContributingFactor.objects.filter(code__in=factor_codes),
            )
            created += 1
        self.stdout.write(f"Demo patients: {created} created, {len(DEMO_PATIENTS) - created} already there.")
