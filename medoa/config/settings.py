"""MedOA settings, read from the environment (see docs/operators.md for every variable).

``MEDOA_ENV`` selects the profile:

* ``production`` (default) — DEBUG off, secure cookies, HSTS; refuses to start without a secret key.
* ``demo`` — what ``medoa demo`` runs: the production profile over plain HTTP on one machine.
* ``test`` — the test suite.

Secrets come from environment variables or, for a single-machine install such as the demo, from
``<data dir>/keys.json`` (written by ``medoa demo``, never committed).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _

BASE_DIR = Path(__file__).resolve().parent.parent
MEDOA_ENV = os.environ.get("MEDOA_ENV", "production")
if MEDOA_ENV not in {"production", "demo", "test"}:
    raise ImproperlyConfigured(f"MEDOA_ENV must be production, demo or test, not {MEDOA_ENV!r}")
IS_PRODUCTION = MEDOA_ENV == "production"
IS_TEST = MEDOA_ENV == "test"

DATA_DIR = Path(os.environ.get("MEDOA_DATA_DIR", "var")).resolve()


def _env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def _load_key_file() -> dict[str, object]:
    path = Path(os.environ.get("MEDOA_KEY_FILE", DATA_DIR / "keys.json"))
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise ImproperlyConfigured(f"{path} is not valid JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise ImproperlyConfigured(f"{path} must hold a JSON object")
    return data


_KEYS = _load_key_file()

# Test runs get fixed throwaway keys so that they never depend on a file on disk.
_TEST_KEYS: dict[str, object] = {
    "secret_key": "test-only-secret-key-not-for-production-0123456789abcdef",
    "field_keys": {"t1": "dGVzdC1maWVsZC1rZXktMDEyMzQ1Njc4OWFiY2RlZmc="},
    "active_field_key": "t1",
    "blind_index_key": "dGVzdC1ibGluZC1pbmRleC1rZXktMDEyMzQ1Njc4OWE=",
    "audit_key": "dGVzdC1hdWRpdC1rZXktMDEyMzQ1Njc4OWFiY2RlZmc=",
}
if IS_TEST and not _KEYS:
    _KEYS = _TEST_KEYS

SECRET_KEY = os.environ.get("MEDOA_SECRET_KEY") or str(_KEYS.get("secret_key") or "")
if not SECRET_KEY:
    raise ImproperlyConfigured(
        "MedOA refuses to start without a secret key: set MEDOA_SECRET_KEY "
        "(or put one in the data directory's keys.json)."
    )

# Field encryption (AES-GCM). MEDOA_FIELD_KEYS="kid:base64key,kid2:base64key"; the active key
# encrypts new values, the others still decrypt old ones until `medoa manage rotate_field_keys`.
_field_keys_env = os.environ.get("MEDOA_FIELD_KEYS", "")
if _field_keys_env:
    FIELD_ENCRYPTION_KEYS: dict[str, str] = {}
    for pair in _field_keys_env.split(","):
        kid, sep, key = pair.strip().partition(":")
        if not sep or not kid or not key:
            raise ImproperlyConfigured("MEDOA_FIELD_KEYS must look like 'kid:base64key,kid2:base64key'")
        FIELD_ENCRYPTION_KEYS[kid] = key
else:
    FIELD_ENCRYPTION_KEYS = dict(_KEYS.get("field_keys") or {})  # type: ignore[call-overload]
FIELD_ENCRYPTION_ACTIVE_KEY = os.environ.get("MEDOA_FIELD_KEY_ACTIVE") or str(
    _KEYS.get("active_field_key") or next(iter(FIELD_ENCRYPTION_KEYS), "")
)
BLIND_INDEX_KEY = os.environ.get("MEDOA_BLIND_INDEX_KEY") or str(_KEYS.get("blind_index_key") or "")
AUDIT_HMAC_KEY = os.environ.get("MEDOA_AUDIT_KEY") or str(_KEYS.get("audit_key") or "")

DEBUG = _env_bool("MEDOA_DEBUG", False)
ALLOWED_HOSTS = [h.strip() for h in os.environ.get("MEDOA_ALLOWED_HOSTS", "").split(",") if h.strip()]
if not IS_PRODUCTION:
    ALLOWED_HOSTS += ["localhost", "127.0.0.1", "[::1]", "testserver"]
MEDOA_TRUSTED_PROXIES = tuple(
    p.strip() for p in os.environ.get("MEDOA_TRUSTED_PROXIES", "").split(",") if p.strip()
)
CSRF_TRUSTED_ORIGINS = [
    o.strip() for o in os.environ.get("MEDOA_CSRF_TRUSTED_ORIGINS", "").split(",") if o.strip()
]

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django_tasks",
    "django_tasks_db",
    "medoa.core.org",
    "medoa.core.access",
    "medoa.core.audit",
    "medoa.core.events",
    "medoa.core.notify",
    "medoa.core.runtime",
    "medoa.core.clinical",
    "medoa.engines.rules",
    "medoa.engines.forms",
    "medoa.engines.flow",
    "medoa.engines.reports",
    "medoa.integration.hl7",
    "medoa.integration.fhir",
    "medoa.integration.webhooks",
    "medoa.modules.approvals",
    "medoa.modules.roster",
    "medoa.modules.resources",
    "medoa.modules.quality",
    "medoa.web",
    "medoa.api",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "medoa.web.middleware.LanguageMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "medoa.core.access.middleware.SessionGuardMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "medoa.web.middleware.SecurityHeadersMiddleware",
]

ROOT_URLCONF = os.environ.get("MEDOA_ROOT_URLCONF", "medoa.config.urls")  # bench/ swaps in its own
WSGI_APPLICATION = "medoa.config.wsgi.application"
ASGI_APPLICATION = "medoa.config.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "django.template.context_processors.i18n",
                "medoa.web.context_processors.shell",
            ],
        },
    },
]

# --- database -------------------------------------------------------------------------------
# SQLite (WAL) in the data directory is the embedded default; DATABASE_URL selects PostgreSQL.
_database_url = os.environ.get("DATABASE_URL", "")
if _database_url:
    # Persistent connections (conn_max_age) without CONN_HEALTH_CHECKS: the health check costs a
    # round trip to the server ("SELECT 1") at the start of every request that touches the
    # database, a large share of a cheap request. Without it, a connection that broke while idle
    # (database restart, network cut) fails the one request that next uses it; Django then closes
    # it (an error marks it unusable) and the following request opens a fresh one. Connections
    # are also closed after conn_max_age seconds, so a pooler's idle cut-off above 60 s is safe.
    DATABASES = {"default": dj_database_url.parse(_database_url, conn_max_age=60, conn_health_checks=False)}
    if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql" and _env_bool(
        "MEDOA_PG_PREPARED", True
    ):
        # Server-side parameter binding, and psycopg prepares a statement on the server once a
        # connection has run it twice: PostgreSQL then skips parsing and planning the statements
        # every request repeats, which halves its CPU per approval (bench/flow.py). Turn it off
        # (MEDOA_PG_PREPARED=0) behind a pooler in transaction mode older than PgBouncer 1.21.
        DATABASES["default"].setdefault("OPTIONS", {}).update(server_side_binding=True, prepare_threshold=2)
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": str(DATA_DIR / "medoa.sqlite3"),
            "OPTIONS": {
                "init_command": (
                    "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; "
                    "PRAGMA busy_timeout=10000; PRAGMA foreign_keys=ON;"
                ),
                "transaction_mode": "IMMEDIATE",
                "timeout": 20,
            },
        }
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- background work --------------------------------------------------------------------------
TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}
if IS_TEST:
    TASKS = {"default": {"BACKEND": "django_tasks.backends.immediate.ImmediateBackend"}}
MEDOA_WORKER_STALE_SECONDS = int(os.environ.get("MEDOA_WORKER_STALE_SECONDS", "60"))
# Form attachments: the largest file accepted, in MiB.
MEDOA_FORMS_MAX_UPLOAD_MB = int(os.environ.get("MEDOA_FORMS_MAX_UPLOAD_MB", "20"))
# Rules: the secret that signs the rules.webhook action's requests (none: unsigned).
MEDOA_RULES_WEBHOOK_SECRET = os.environ.get("MEDOA_RULES_WEBHOOK_SECRET", "")

# --- authentication and sessions ---------------------------------------------------------------
AUTH_USER_MODEL = "access.User"
LOGIN_URL = "access:login"
LOGIN_REDIRECT_URL = "web:workbench"
LOGOUT_REDIRECT_URL = "access:login"
if IS_TEST:
    PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

# Password policy profile: "asvs" (default) or "dengbao" (等保: 8+ chars of 3 classes, 90-day change).
MEDOA_PASSWORD_POLICY = os.environ.get("MEDOA_PASSWORD_POLICY", "asvs")
if MEDOA_PASSWORD_POLICY not in {"asvs", "dengbao"}:
    raise ImproperlyConfigured("MEDOA_PASSWORD_POLICY must be 'asvs' or 'dengbao'")
AUTH_PASSWORD_VALIDATORS = [{"NAME": "medoa.core.access.passwords.PolicyValidator"}]

MEDOA_LOGIN_MAX_FAILURES = int(os.environ.get("MEDOA_LOGIN_MAX_FAILURES", "5"))
MEDOA_LOGIN_LOCKOUT_MINUTES = int(os.environ.get("MEDOA_LOGIN_LOCKOUT_MINUTES", "15"))
MEDOA_TOTP_REQUIRED_ROLES = ("sys_admin", "sec_admin", "audit_admin")
MEDOA_API_TOKEN_HOURS = int(os.environ.get("MEDOA_API_TOKEN_HOURS", "12"))
MEDOA_SESSION_IDLE_MINUTES = int(os.environ.get("MEDOA_SESSION_IDLE_MINUTES", "30"))
# How long each process keeps token lookups, permission principals and live-session checks
# (medoa.core.access.cache); changes reach other processes within this many seconds. 0: off.
MEDOA_ACCESS_CACHE_SECONDS = float(os.environ.get("MEDOA_ACCESS_CACHE_SECONDS", "5"))
if IS_TEST:
    MEDOA_ACCESS_CACHE_SECONDS = 0  # the cache's own tests switch it on

SESSION_ENGINE = "django.contrib.sessions.backends.db"
SESSION_COOKIE_AGE = 12 * 3600
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_HTTPONLY = False  # htmx reads the token from the cookie-free meta tag; keep default
CSRF_FAILURE_VIEW = "medoa.web.views.csrf_failure"

# --- security headers ----------------------------------------------------------------------------
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
if IS_PRODUCTION:
    SECURE_SSL_REDIRECT = _env_bool("MEDOA_SSL_REDIRECT", True)
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    # MEDOA_SECURE_COOKIES=0 only for plain-HTTP measurements such as bench/web.py.
    SESSION_COOKIE_SECURE = _env_bool("MEDOA_SECURE_COOKIES", True)
    CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
    SECURE_HSTS_SECONDS = int(os.environ.get("MEDOA_HSTS_SECONDS", str(365 * 24 * 3600)))
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = _env_bool("MEDOA_HSTS_PRELOAD", True)
    SECURE_REDIRECT_EXEMPT = [r"^healthz$"]

# --- i18n ---------------------------------------------------------------------------------------
LANGUAGE_CODE = "zh-hans"
LANGUAGES = [("zh-hans", "简体中文"), ("en", "English")]
LANGUAGE_COOKIE_NAME = "medoa_language"
LANGUAGE_COOKIE_AGE = 365 * 24 * 3600  # the switch remembers the choice for a year
LANGUAGE_COOKIE_SAMESITE = "Lax"
LANGUAGE_COOKIE_SECURE = IS_PRODUCTION
TIME_ZONE = os.environ.get("MEDOA_TIME_ZONE", "Asia/Shanghai")
USE_I18N = True
USE_TZ = True
LOCALE_PATHS = [BASE_DIR / "locale"]

# --- static files ------------------------------------------------------------------------------
STATIC_URL = "/static/"
STATIC_ROOT = DATA_DIR / "static"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = DEBUG
MEDIA_ROOT = DATA_DIR / "media"
DATA_UPLOAD_MAX_MEMORY_SIZE = 10 * 1024 * 1024
FILE_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024
MEDOA_IMPORT_MAX_BYTES = 5 * 1024 * 1024
MEDOA_IMPORT_MAX_ROWS = 5000

# --- email -----------------------------------------------------------------------------------------
EMAIL_BACKEND = os.environ.get("MEDOA_EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
DEFAULT_FROM_EMAIL = os.environ.get("MEDOA_EMAIL_FROM", "medoa@localhost")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": os.environ.get("MEDOA_LOG_LEVEL", "INFO")},
    "loggers": {
        "django.request": {"level": "ERROR"},
        "django.server": {"level": "WARNING"},
        "django_tasks_db": {"level": "WARNING"},
    },
}

MEDOA_DEMO = MEDOA_ENV == "demo"
MEDOA_TITLE = _("MedOA 医务办公系统")

# --- tunables of the integration layer and the modules ----------------------------------------------
# Their defaults live next to the code that reads them (``getattr(settings, NAME, default)``);
# an operator sets one through the environment: a number, ``true``/``false``, a JSON list or
# object, or plain text (docs/operators.md lists them).
ENV_TUNABLES = (
    "MEDOA_HL7_CRITICAL_FLAGS",  # local critical flags besides HH/LL/AA, e.g. "PL,PH"
    "MEDOA_HL7_MAX_FRAME_MB",
    "MEDOA_HL7_MAX_CONNECTIONS",
    "MEDOA_HL7_IDLE_SECONDS",
    "MEDOA_HL7_COMMITTERS",
    "MEDOA_HL7_DEFAULT_CHARSET",
    "MEDOA_HL7_MESSAGE_TYPES",
    "MEDOA_HL7_PROCESS_MAX_BYTES",
    "MEDOA_HL7_PROCESS_MAX_SEGMENTS",
    "MEDOA_HL7_PROCESS_MAX_DELIMITERS",
    "MEDOA_HL7_ALLOW_CACHE_SECONDS",
    "MEDOA_HL7_PROCESSOR",  # "process" (default on PostgreSQL) or "thread" (the worker's)
    "MEDOA_HL7_PROCESSORS",  # processor processes in "process" mode (default 3)
    "MEDOA_MLLP_HOST",
    "MEDOA_MLLP_PORT",
    "MEDOA_FHIR_MAX_BYTES",
    "MEDOA_WEBHOOKS_ALLOW_PRIVATE",
    "MEDOA_WEBHOOKS_TIMEOUT_SECONDS",
    "MEDOA_WEBHOOKS_RETRY_BASE_SECONDS",
    "MEDOA_WEBHOOKS_MAX_ATTEMPTS",
    "MEDOA_WEBHOOKS_MAX_FAILURES",
    "MEDOA_ROSTER_TIME_LIMIT",
    "MEDOA_OR_OVERRUN_MINUTES",
    "MEDOA_CRITICAL_ACK_MINUTES",
    "MEDOA_CRITICAL_ESCALATE_MINUTES",
    "MEDOA_APPROVALS_PROCUREMENT_MEETING_THRESHOLD",
    "MEDOA_APPROVALS_SEAL_KEEPERS",
    "MEDOA_APPROVALS_CONTRACT_LEGAL_ROLE",
)


def _tunable(text: str) -> object:
    try:
        return json.loads(text)
    except ValueError:
        return text


for _name in ENV_TUNABLES:
    if _name in os.environ:
        globals()[_name] = _tunable(os.environ[_name])
