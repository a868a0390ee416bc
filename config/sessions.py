"""Idle session expiry that writes the session row at most once a minute.

Sessions end after SESSION_IDLE_MINUTES without a request. Django's own way, SESSION_SAVE_EVERY_REQUEST,
rewrites the session row on every request: an UPDATE and a commit on every page, even a read-only one.
Here the store remembers the expiry it read, and the middleware marks the session modified (so that
Django's SessionMiddleware saves it with a fresh expiry) only when that expiry was set more than
REFRESH_AFTER ago. A session therefore ends after between SESSION_IDLE_MINUTES minus one minute and
SESSION_IDLE_MINUTES of idleness.
"""

import datetime

from django.conf import settings
from django.contrib.sessions.backends.db import SessionStore as DatabaseSessionStore
from django.utils import timezone

REFRESH_AFTER = datetime.timedelta(minutes=1)


class SessionStore(DatabaseSessionStore):
    """Django's database sessions, remembering the stored expiry of the session they loaded."""

    stored_expiry = None

    def _get_session_from_db(self):
        session = super()._get_session_from_db()
        self.stored_expiry = session.expire_date if session else None
        return session


class RefreshIdleExpiryMiddleware:
    """Moves on the expiry of a session loaded from the database (a signed-in user's, in practice) when
    it was last set more than REFRESH_AFTER ago."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        session = request.session
        stored_expiry = getattr(session, "stored_expiry", None)
        if stored_expiry is not None and not session.modified:
            last_set = stored_expiry - datetime.timedelta(seconds=settings.SESSION_COOKIE_AGE)
            if timezone.now() - last_set >= REFRESH_AFTER:
                session.modified = True
        return response
