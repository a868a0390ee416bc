from django.contrib.auth.models import Group, Permission
from django.core.management.base import BaseCommand, CommandError

from patients.roles import ROLE_PERMISSIONS


class Command(BaseCommand):
    help = "Create or update the Clinician and Administrator groups with their permissions (idempotent)."

    def handle(self, *args, **options):
        for role, names in ROLE_PERMISSIONS.items():
            permissions = []
            for name in names:
                app_label, codename = name.split(".")
                try:
                    permissions.append(Permission.objects.get(content_type__app_label=app_label, codename=codename))
                except Permission.DoesNotExist as exc:
                    raise CommandError(f"Role {role}: no permission {name}; run migrate first.") from exc
            group, created = Group.objects.get_or_create(name=role)
            group.permissions.set(permissions)
            self.stdout.write(f"{'Created' if created else 'Updated'} role {role} ({len(permissions)} permissions)")
