"""Views that belong to the deployment, not to a domain app."""

import logging
import sys

from django.contrib.auth.decorators import login_not_required
from django.db import DatabaseError, InterfaceError, OperationalError, connection
from django.db.migrations.executor import MigrationExecutor
from django.http import HttpResponse, JsonResponse
from django.template import loader
from django.views import defaults
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

logger = logging.getLogger(__name__)

# Once every migration this code knows of is applied, that stays true for the life of the process (new
# migrations arrive with new code, which means a restart), so the check reads the migration files and
# the django_migrations table only until it first passes. Load balancers call this every few seconds.
_migrations_applied = False


def migrations_applied() -> bool:
    global _migrations_applied
    if not _migrations_applied:
        executor = MigrationExecutor(connection)
        _migrations_applied = not executor.migration_plan(executor.loader.graph.leaf_nodes())
    return _migrations_applied


@login_not_required
@never_cache
@require_safe
def healthz(request):
    """For load balancers: 200 when the database answers and every migration is applied, else 503
    naming what failed. Says nothing about patients, users or versions, because anyone may call it."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        applied = migrations_applied()
    except DatabaseError:
        logger.exception("Health check: the database did not answer")
        return JsonResponse({"status": "error", "database": "unreachable", "migrations": "unknown"}, status=503)
    if not applied:
        logger.error("Health check: migrations are not applied (run manage.py migrate)")
        return JsonResponse({"status": "error", "database": "ok", "migrations": "unapplied"}, status=503)
    return JsonResponse({"status": "ok", "database": "ok", "migrations": "applied"})


# How long a browser or load balancer is asked to wait before trying again while the database is away.
RETRY_AFTER_SECONDS = 30


def server_error(request):
    """handler500: a lost database connection is a 503 ("try again soon"), any other error a 500.

    Django calls this for an error raised anywhere in the request, middleware included (the session and
    user are read in middleware, before any view), while the exception is being handled, so it is in
    sys.exc_info(). Both pages are plain templates that read nothing from the database.
    """
    error = sys.exc_info()[1]
    if isinstance(error, (OperationalError, InterfaceError)):
        body = loader.get_template("503.html").render()
        return HttpResponse(body, status=503, headers={"Retry-After": str(RETRY_AFTER_SECONDS)})
    return defaults.server_error(request)
