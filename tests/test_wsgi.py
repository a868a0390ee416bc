"""config/wsgi.py: the application loads, and what it loaded at start-up is frozen out of the garbage
collector's scans (full collections had been pauses of milliseconds on unlucky requests)."""

import subprocess
import sys

from django.conf import settings

PROBE = """
import gc
before = gc.get_freeze_count()
from config.wsgi import application
print(before, gc.get_freeze_count(), type(application).__name__)
"""


def test_the_wsgi_application_freezes_what_start_up_loaded():
    result = subprocess.run(  # noqa: S603 - this interpreter on the fixed script above
        [sys.executable, "-c", PROBE],
        env={"PATH": "/usr/bin:/bin", "DJANGO_SETTINGS_MODULE": "config.settings_test"},
        capture_output=True,
        text=True,
        cwd=settings.BASE_DIR,
        check=True,
    )
    before, after, application = result.stdout.split()
    assert (int(before), application) == (0, "WSGIHandler")
    assert int(after) > 10_000  # Django, the apps, their models and URL patterns
