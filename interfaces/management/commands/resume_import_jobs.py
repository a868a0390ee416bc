from django.core.management.base import BaseCommand

from interfaces.jobs import resume_stalled_jobs


class Command(BaseCommand):
    help = (
        "Enqueue again every upload's import that stopped (its worker was killed or the machine restarted): "
        "each goes on after the last message it counted. The Procfile runs this as the worker starts."
    )

    def handle(self, *args, **options):
        stalled = resume_stalled_jobs()
        for job in stalled:
            self.stdout.write(f"Resumed the import of {job.file_name} (job {job.pk}) after {job.done} of {job.total}.")
        if not stalled:
            self.stdout.write("No stalled import to resume.")
