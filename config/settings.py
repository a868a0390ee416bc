"""Myolab settings: everything that varies between machines comes from the environment.

The README's configuration table lists every variable read here. Defaults are the safe ones:
DEBUG is off, cookies are secure and a real SECRET_KEY is required unless DEBUG is asked for.
"""

from datetime import timedelta
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()

DEBUG = env.bool("DEBUG", default=False)

SECRET_KEY = env.str("SECRET_KEY", default="")
if not DEBUG and (len(SECRET_KEY) < 50 or SECRET_KEY.startswith("django-insecure")):
    raise ImproperlyConfigured(
        "SECRET_KEY must be set to a random string of at least 50 characters when DEBUG is off "
        "(generate one with: python -c 'import secrets; print(secrets.token_urlsafe(64))')."
    )
if not SECRET_KEY:
    SECRET_KEY = "django-insecure-local-development-only"  # noqa: S105 - reached only with DEBUG on

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "crispy_forms",
    "crispy_bootstrap5",
    "bootstrap",  # django-bootstrap-static: Bootstrap's CSS/JS as static files
    "axes",
    # Two-factor sign-in: authenticator apps (TOTP) and recovery codes (static tokens).
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_otp.plugins.otp_static",
    "csp",
    "simple_history",
    # Background work (an uploaded file's import): django-tasks, the backport of Django 6's tasks, with
    # its database backend (django-tasks-db; `manage.py db_worker` runs the tasks).
    "django_tasks",
    "django_tasks_db",
    "core",
    "patients",
    "labs",
    "guidance",
    "exports",
    "interfaces",  # results from the laboratory (HL7 v2 over MLLP, uploads); records through guidance
    "api",  # the FHIR R4 API, its import and the CDS Hooks service, for systems with a client credential
    "benchmarks",  # manage.py generate_data, for make bench; above the domain apps it fills
    # The deployment's own code: config/admin.py shows the login lock-out records read-only.
    "config",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # Security headers and caching: see the "Security headers and caching" block below.
    "csp.middleware.CSPMiddleware",
    "django_permissions_policy.PermissionsPolicyMiddleware",
    "config.security.NoStoreMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    # Moves the idle expiry on at most once a minute (config/sessions.py).
    "config.sessions.RefreshIdleExpiryMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # Marks the user verified when the session was signed in with a second factor (user.is_verified()).
    "django_otp.middleware.OTPMiddleware",
    # Every view needs a logged-in user unless it is marked @login_not_required.
    "django.contrib.auth.middleware.LoginRequiredMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    # Sends an account that needs a second factor to set one up before any page (config/two_factor.py).
    "config.two_factor.RequireSecondFactorMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "simple_history.middleware.HistoryRequestMiddleware",
    # Last, as django-axes requires, so it sees the outcome of every login attempt.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "patients.context_processors.user_roles",
            ],
        },
    },
]

DATABASES = {
    "default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}"),
}
# Keep connections open between requests and check them before reuse.
DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # The embedded database: concurrent saves wait their turn instead of failing with "database is locked".
    # Each transaction takes the write lock when it begins (IMMEDIATE), so two cannot both read and then
    # both try to upgrade to writing; a waiting one waits up to 20 s; the write-ahead log lets pages be
    # read while a save is being written.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {"transaction_mode": "IMMEDIATE", "timeout": 20, "init_command": "PRAGMA journal_mode=WAL"}
    )
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Rendered trend charts are cached in a database table (created by `manage.py createcachetable`):
# every server process and machine sees the same entries, with no extra service to run.
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.db.DatabaseCache",
        "LOCATION": "myolab_cache",
        "OPTIONS": {"MAX_ENTRIES": env.int("CACHE_MAX_ENTRIES", default=20000)},
    }
}
# The identifier system of the medical record numbers in FHIR exports (Patient.identifier.system).
FHIR_MRN_SYSTEM = env.str("FHIR_MRN_SYSTEM", default="urn:myolab:mrn")
# The identifier systems whose values are Myolab's MRNs in what systems send and search for (a FHIR
# Bundle's Patient.identifier, Patient?identifier=, a CDS Hooks prefetch): the export's system by default.
FHIR_MRN_SYSTEMS = env.list("FHIR_MRN_SYSTEMS", default=[FHIR_MRN_SYSTEM])
# The API's rate limit: requests per minute per API client (api.auth); a request over it is answered 429.
API_REQUESTS_PER_MINUTE = env.int("API_REQUESTS_PER_MINUTE", default=600)
# The largest page an API search returns (_count above it is refused) and the page without _count.
API_MAX_COUNT = 500
API_DEFAULT_COUNT = 50
# Results from the laboratory (README, "Results from the laboratory"). MSH-11 processing IDs whose
# messages are filed in patients' records: production only, unless a test system asks for T or D too.
HL7_PROCESSING_IDS = env.list("HL7_PROCESSING_IDS", default=["P"])
# PID-3 assigning authorities (PID-3.4) whose identifiers are this clinic's MRNs; empty: any authority
# (the birth date and sex must agree in any case).
HL7_MRN_AUTHORITIES = env.list("HL7_MRN_AUTHORITIES", default=[])
# Where the MLLP listener (manage.py hl7_listen) listens.
HL7_LISTEN_HOST = env.str("HL7_LISTEN_HOST", default="127.0.0.1")
HL7_LISTEN_PORT = env.int("HL7_LISTEN_PORT", default=2575)
# Background tasks are rows of the database (django-tasks-db), run by `manage.py db_worker` (the Procfile's
# worker): nothing else to run, on SQLite or PostgreSQL.
TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}

AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    # ModelBackend, with permissions read in one query (config/permissions.py).
    "config.permissions.PermissionBackend",
]
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]
# The password policy (the README's Security section lists it).
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 12}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
    {"NAME": "config.validators.NoUsernameInPasswordValidator"},
    {"NAME": "config.validators.NotOneRepeatedCharacterValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

# Sessions end after SESSION_IDLE_MINUTES without a request. The expiry moves on at most once a minute
# (config/sessions.py), not on every request as SESSION_SAVE_EVERY_REQUEST would.
SESSION_ENGINE = "config.sessions"
SESSION_COOKIE_AGE = env.int("SESSION_IDLE_MINUTES", default=30) * 60
SESSION_EXPIRE_AT_BROWSER_CLOSE = True

# --- Login lock-out (django-axes) ---------------------------------------------------------------------
# After repeated failed logins, that username is locked out *from that address*. Locking the username
# alone would let anyone lock any clinician out by typing wrong passwords for her; locking the address
# alone would lock a whole clinic out, since its workstations usually share one public address.
AXES_FAILURE_LIMIT = env.int("LOGIN_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = timedelta(minutes=env.int("LOGIN_LOCKOUT_MINUTES", default=15))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
# Every failed login is also kept in a log (AccessFailureLog; AccessAttempt is only the counter, reset
# by a successful login). These records are evidence: config/admin.py shows them read-only, no delete.
AXES_ENABLE_ACCESS_FAILURE_LOG = True
AXES_ENABLE_ADMIN = False

# --- Two-factor sign-in (config/two_factor.py, django-otp) ---
# Anyone with an authenticator app set up types its code after the password. Administrators (staff
# status) must have one; clinicians too when TWO_FACTOR_REQUIRED_FOR_CLINICIANS is on.
TWO_FACTOR_REQUIRED_FOR_CLINICIANS = env.bool("TWO_FACTOR_REQUIRED_FOR_CLINICIANS", default=False)
# Only the local demo (the Makefile's DEMO_ENV) turns the administrators' requirement off.
TWO_FACTOR_REQUIRED_FOR_ADMINISTRATORS = env.bool("TWO_FACTOR_REQUIRED_FOR_ADMINISTRATORS", default=True)
if not TWO_FACTOR_REQUIRED_FOR_ADMINISTRATORS and not DEBUG:
    raise ImproperlyConfigured(
        "TWO_FACTOR_REQUIRED_FOR_ADMINISTRATORS=false is for the local demo only: it is refused with DEBUG off."
    )
# The name the authenticator app shows next to the account.
OTP_TOTP_ISSUER = "Myolab"
# One lock-out for passwords and codes: wrong codes count as failed logins in django-axes (above), so
# django-otp's own growing delays are off; they would also refuse a right code typed just after a typo.
OTP_TOTP_THROTTLE_FACTOR = 0
OTP_STATIC_THROTTLE_FACTOR = 0
# The admin shows who has an authenticator app, never its secret key.
OTP_ADMIN_HIDE_SENSITIVE_DATA = True
# axes records the posted form of a failed attempt; keep codes out of it, as it does passwords.
AXES_SENSITIVE_PARAMETERS = ["code"]
# --- end of two-factor sign-in ---

# HTTPS hardening, on unless DEBUG is on; each can be turned off for a plain-HTTP deployment.
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=not DEBUG)
SESSION_COOKIE_SECURE = env.bool("SECURE_COOKIES", default=not DEBUG)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0 if DEBUG else 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_HSTS_PRELOAD = True
if env.bool("BEHIND_TLS_PROXY", default=False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    # The lock-out's address is the client's, not the proxy's (core/http.py says why).
    AXES_CLIENT_IP_CALLABLE = "core.http.client_ip"
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
X_FRAME_OPTIONS = "DENY"

# --- Security headers and caching ----------------------------------------------------------------------
# Content-Security-Policy (django-csp): scripts, styles, fonts and images only from Myolab's own static
# files, nothing inline (no <script> blocks, event-handler attributes or style="" in the templates), so
# injected markup cannot run. Images may also be data: URIs, which Bootstrap's CSS uses for its icons.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        # One inline style attribute is allowed, by its hash: "border-top: 0" in django-simple-history's
        # history page (simple_history/object_history_list.html); any other style="" is refused.
        "style-src-attr": ["'unsafe-hashes'", "'sha256-XMXSevYjgSjXgRafBFDvtjwX+yyWLrxfso9DcNZ9UXM='"],
        "img-src": ["'self'", "data:"],
        "object-src": ["'none'"],
        "base-uri": ["'none'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    }
}
# Permissions-Policy (django-permissions-policy): no page needs a device or sensor, so none may ask.
PERMISSIONS_POLICY = {
    feature: []
    for feature in [
        "accelerometer",
        "camera",
        "display-capture",
        "geolocation",
        "gyroscope",
        "magnetometer",
        "microphone",
        "payment",
        "usb",
    ]
}
# Cache-Control: no-store on every response the app renders: config.security.NoStoreMiddleware.

LANGUAGE_CODE = "en-gb"
TIME_ZONE = env.str("TIME_ZONE", default="Europe/London")
# English only: Django skips its translation machinery (a few hundred lookups a page), as its docs advise.
# Dates keep the en-gb formats, which come from LANGUAGE_CODE.
USE_I18N = False
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}

CRISPY_ALLOWED_TEMPLATE_PACKS = "bootstrap5"
CRISPY_TEMPLATE_PACK = "bootstrap5"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
}
