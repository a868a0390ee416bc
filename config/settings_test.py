"""Settings for the test suite: production settings with test-only secrets and plain HTTP.

Values are set through the environment so they pass through the same code path as production.
"""

import os

os.environ.setdefault("SECRET_KEY", "test-only-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz")
os.environ.setdefault("SECURE_SSL_REDIRECT", "false")
os.environ.setdefault("SECURE_COOKIES", "false")

from .settings import *  # noqa: E402,F403
from .settings import BASE_DIR, DATABASES, STORAGES  # noqa: E402

# Hashing with Argon2 on every test login costs seconds; the production list is tested separately.
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
# Tests do not run collectstatic, so the manifest storage has nothing to read.
STORAGES = {**STORAGES, "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}}

if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # A file, as installations have it, rather than Django's shared in-memory database: threads then have
    # their own connections with the embedded settings' locking (IMMEDIATE transactions, busy timeout,
    # write-ahead log), which tests/test_no_duplicate_panels.py fires concurrent saves at.
    # One file per test run (Django deletes it at the end), so two runs side by side do not share it.
    DATABASES["default"]["TEST"] = {"NAME": str(BASE_DIR / f"test-db-{os.getpid()}.sqlite3")}

# Background tasks run at once, in the process that enqueues them (after its transaction commits);
# tests/test_interfaces_import_jobs.py runs the database backend and its worker once.
TASKS = {"default": {"BACKEND": "django_tasks.backends.immediate.ImmediateBackend"}}
