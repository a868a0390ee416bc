from django.core.management.base import BaseCommand
from django.utils import timezone

from core.form_keys import MAX_AGE
from core.models import UsedFormKey


class Command(BaseCommand):
    help = (
        "Delete the used one-time form keys older than a key's lifetime (24 hours). A key that old is refused "
        "as expired before its use is looked up, so its row guards nothing. Run it daily, like clearsessions."
    )

    def handle(self, *args, **options):
        deleted, _ = UsedFormKey.objects.filter(used_at__lt=timezone.now() - MAX_AGE).delete()
        self.stdout.write(f"Deleted {deleted} used form key{'s' if deleted != 1 else ''} older than {MAX_AGE}.")
