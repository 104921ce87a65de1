"""Django settings for curator.

Everything that differs between the demo, the tests and production comes from the environment:
DATABASE_URL (SQLite file when unset), CELERY_BROKER_URL (Celery's file-system broker when unset)
and the CURATOR_* model settings.
"""

from __future__ import annotations

import os
from pathlib import Path

import dj_database_url

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("CURATOR_VAR_DIR", BASE_DIR / "var"))


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


DEBUG = env_bool("DJANGO_DEBUG", False)
# Production behind TLS: secure cookies, HSTS, HTTPS redirects, and a secret key that must come
# from the environment. The demo and the tests run without it on a development key.
SECURE = env_bool("DJANGO_SECURE", False)
_INSECURE_DEV_KEY = "curator-insecure-development-key-set-DJANGO_SECRET_KEY-in-production"
SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "")
if not SECRET_KEY:
    if SECURE:
        from django.core.exceptions import ImproperlyConfigured

        raise ImproperlyConfigured("DJANGO_SECRET_KEY must be set when DJANGO_SECURE is on")
    SECRET_KEY = _INSECURE_DEV_KEY
ALLOWED_HOSTS = [
    h for h in os.environ.get("DJANGO_ALLOWED_HOSTS", "localhost,127.0.0.1").split(",")
]
CSRF_TRUSTED_ORIGINS = [
    o for o in os.environ.get("DJANGO_CSRF_TRUSTED_ORIGINS", "").split(",") if o
]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "drf_spectacular_sidecar",  # Swagger UI and Redoc as local static files
    "django_htmx",
    # One throttle and one record of failures for every way in: /login/, /admin/login/ and
    # POST /api/auth/token/ all authenticate through django.contrib.auth, which axes watches.
    "axes",
    "csp",
    "curator.apps.CuratorConfig",
    "annotation.apps.AnnotationConfig",
    "workers.apps.WorkersConfig",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "curator.views.middleware.RefuseNulCharacters",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "csp.middleware.CSPMiddleware",
    # Last, so that it turns a lock-out flagged during the view into the 429 answer.
    "axes.middleware.AxesMiddleware",
]

# Axes' backend refuses a locked-out (username, address) before the password is even checked.
AUTHENTICATION_BACKENDS = [
    "curator.services.login_throttle.ThrottleBackend",
    "django.contrib.auth.backends.ModelBackend",
]

ROOT_URLCONF = "curator.urls"
WSGI_APPLICATION = "curator.wsgi.application"
ASGI_APPLICATION = "curator.asgi.application"

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
            ],
        },
    },
]

DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL", f"sqlite:///{VAR_DIR / 'curator.sqlite3'}"),
        conn_max_age=int(os.environ.get("DATABASE_CONN_MAX_AGE", "60")),
        # A restarted PostgreSQL leaves dead pooled connections; check before reuse.
        conn_health_checks=True,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # Django's cursors bind parameters client-side and never prepare; this only lets the few
    # hand-written statements every label runs be prepared (`curator/models/rows.py`). None
    # would turn preparing off for the connection altogether.
    # Set DATABASE_PREPARED_STATEMENTS=0 behind a pooler that cannot keep them (PgBouncer in
    # transaction mode): the statements then run unprepared.
    prepared = os.environ.get("DATABASE_PREPARED_STATEMENTS", "1") not in ("0", "false")
    DATABASES["default"].setdefault("OPTIONS", {})["prepare_threshold"] = 5 if prepared else None
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # The demo's web server and worker share one SQLite file: wait for the writer, do not fail.
    DATABASES["default"].setdefault("OPTIONS", {})["timeout"] = 30
    DATABASES["default"]["OPTIONS"]["transaction_mode"] = "IMMEDIATE"
    DATABASES["default"]["CONN_MAX_AGE"] = 0

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_USER_MODEL = "curator.User"
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "project-list"
LOGOUT_REDIRECT_URL = "login"

# Every form that sets a password (the account page, the admin, `createsuperuser`,
# `changepassword`) runs these.
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 10},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "staticfiles"
STATICFILES_DIRS = [
    BASE_DIR / "static",
    # Front-end libraries come from the npm registry at setup time (package.json), never committed.
    ("vendor/htmx", BASE_DIR / "node_modules" / "htmx.org" / "dist"),
]
MEDIA_ROOT = Path(os.environ.get("CURATOR_MEDIA_ROOT", VAR_DIR / "media"))

# Uploads above this stay on disk while they stream into the database.
FILE_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024
# The size limit is checked while the body streams in, not after it was spooled to disk.
FILE_UPLOAD_HANDLERS = [
    "curator.views.uploads.LimitedUploadHandler",
    "django.core.files.uploadhandler.MemoryFileUploadHandler",
    "django.core.files.uploadhandler.TemporaryFileUploadHandler",
]
CURATOR_MAX_UPLOAD_BYTES = int(os.environ.get("CURATOR_MAX_UPLOAD_BYTES", str(2 * 1024**3)))
DATA_UPLOAD_MAX_MEMORY_SIZE = 10 * 1024 * 1024

REST_FRAMEWORK = {
    # Token first: DRF answers an anonymous call with the first class's challenge, so clients get
    # 401 with `WWW-Authenticate: Token` rather than a bare 403.
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "curator.api.authentication.ExpiringTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_SCHEMA_CLASS": "curator.api.schema.CuratorAutoSchema",
    "EXCEPTION_HANDLER": "curator.api.errors.api_exception_handler",
    "DEFAULT_PARSER_CLASSES": [
        "curator.api.parsers.StrictJSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "DEFAULT_PAGINATION_CLASS": "curator.api.pagination.IdCursor",
    "PAGE_SIZE": 100,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "curator API",
    "DESCRIPTION": "Projects, records, imports, annotations, jobs and rounds of the data flywheel.",
    "VERSION": "0.1.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    # Several models have a `kind` and a `status`: each choice set gets a name of its own.
    "ENUM_NAME_OVERRIDES": {
        "ModelVersionKindEnum": "curator.models.model_versions.ModelVersion.Kind",
        "ModelVersionStatusEnum": "curator.models.model_versions.ModelVersion.Status",
        "ModelVersionRoleEnum": "curator.models.model_versions.ModelVersion.Role",
        "RoundStatusEnum": "curator.models.rounds.Round.Status",
        "JobStatusEnum": "curator.models.jobs.Job.Status",
    },
}

# --- Jobs: leases, the sweep, time limits --------------------------------------------------------
# Three clocks, set so that a live job runs exactly once and a dead worker's job is picked up in
# minutes:
# - the lease: a worker that claims a job (or chunk) holds it this long; a heartbeat thread renews
#   it every third of that while the body runs, so only a worker that stopped answering loses it;
# - the sweep (Celery beat, every CURATOR_SWEEP_SECONDS) hands every job whose lease has passed
#   back to its queue, so a dead worker's work restarts after lease + sweep, not hours later;
# - the broker's visibility timeout (below) is longer than the longest task time limit, so the
#   broker never hands a live task to a second worker; it is only the last resort.
CURATOR_JOB_LEASE_SECONDS = int(os.environ.get("CURATOR_JOB_LEASE_SECONDS", "120"))
CURATOR_SWEEP_SECONDS = float(os.environ.get("CURATOR_SWEEP_SECONDS", "30"))
# A queued job no worker took is sent again after this long (its message may have been lost with
# a broker restart); a duplicate message is harmless, the claim lets one run.
CURATOR_SWEEP_QUEUED_SECONDS = int(os.environ.get("CURATOR_SWEEP_QUEUED_SECONDS", "300"))
# A job whose workers died this many times fails instead of taking a worker down forever.
CURATOR_JOB_MAX_ATTEMPTS = int(os.environ.get("CURATOR_JOB_MAX_ATTEMPTS", "5"))
# Hard limit on one task (a round that fine-tunes, an LLM training run).
CURATOR_TASK_TIME_LIMIT = int(os.environ.get("CURATOR_TASK_TIME_LIMIT", str(6 * 3600)))

# --- Celery -------------------------------------------------------------------------------------
CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL", "filesystem://")
CELERY_BROKER_DIR = Path(os.environ.get("CELERY_BROKER_DIR", VAR_DIR / "celery-broker"))
if CELERY_BROKER_URL.startswith("filesystem://"):
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(CELERY_BROKER_DIR / "queue"),
        "data_folder_out": str(CELERY_BROKER_DIR / "queue"),
        "processed_folder": str(CELERY_BROKER_DIR / "processed"),
        # Its exchange tables; kombu's default is ./control, inside the checkout.
        "control_folder": str(CELERY_BROKER_DIR / "control"),
        "store_processed": False,
    }
else:
    # Redis hands an unacknowledged message to another worker after this many seconds, even when
    # the first worker is still working on it. Longer than the longest task time limit, so that
    # never happens to a live task; the job sweep (above) recovers dead workers' jobs long before.
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "visibility_timeout": int(
            os.environ.get("CELERY_VISIBILITY_TIMEOUT", str(CURATOR_TASK_TIME_LIMIT + 3600))
        )
    }
# Job state lives in the Job table, not in a result backend.
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_DEFAULT_QUEUE = "cpu"
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
# Publishing must fail fast when the broker is down, so the user sees an error instead of a hang.
CELERY_TASK_PUBLISH_RETRY_POLICY = {"max_retries": 2, "interval_start": 0, "interval_step": 0.5}
CELERY_BROKER_CONNECTION_TIMEOUT = 3
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Beat (`celery worker -B` in the demo, the `beat` service in docker-compose) sends the sweep to
# the cpu queue. Sweeps wait there behind other tasks (a solo demo worker runs one between any two
# tasks), so they expire only after several minutes: expiring after one period would drop every
# sweep behind a long task. Sweeps that pile up meanwhile are cheap no-ops.
CELERY_BEAT_SCHEDULE = {
    "sweep-job-leases": {
        "task": "workers.tasks.sweep_jobs",
        "schedule": CURATOR_SWEEP_SECONDS,
        "options": {"queue": "cpu", "expires": max(300.0, 10 * CURATOR_SWEEP_SECONDS)},
    }
}

# --- Models -------------------------------------------------------------------------------------
# Each is a Hugging Face id, a local path, or "bundled:<name>" for the models shipped in packages.
CURATOR_ENCODER_MODEL = os.environ.get("CURATOR_ENCODER_MODEL", "bundled:all-MiniLM-L6-v2")
CURATOR_LLM_MODEL = os.environ.get("CURATOR_LLM_MODEL", "bundled:SmolLM2-135M-Instruct")
# When set, the LLM is reached over an OpenAI-compatible HTTP API (vLLM, TGI, llama.cpp, Ollama).
CURATOR_LLM_BASE_URL = os.environ.get("CURATOR_LLM_BASE_URL", "")
CURATOR_LLM_API_KEY = os.environ.get("CURATOR_LLM_API_KEY", "")
# "bundled:profanity-check" (offline default), "llm-zero-shot", or a sequence classifier id/path.
CURATOR_TOXICITY_MODEL = os.environ.get("CURATOR_TOXICITY_MODEL", "bundled:profanity-check")
CURATOR_DEVICE = os.environ.get("CURATOR_DEVICE", "auto")
CURATOR_MODEL_CACHE = Path(
    os.environ.get("CURATOR_MODEL_CACHE", Path.home() / ".cache" / "curator" / "models")
)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("CURATOR_LOG_LEVEL", "INFO")},
    # axes logs every successful log-in at INFO; its warnings (failures, lock-outs) stay.
    "loggers": {"django.db.backends": {"level": "WARNING"}, "axes": {"level": "WARNING"}},
}

SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_HTTPONLY = True
# How many reverse proxies (each appending to X-Forwarded-For) stand between the client and
# gunicorn. 0 (the default, and what docker-compose does: gunicorn is published directly) means
# the headers a client sends are not believed: X-Forwarded-Proto does not make a request secure
# and X-Forwarded-For does not change the address logins are throttled on.
CURATOR_PROXY_COUNT = int(os.environ.get("CURATOR_PROXY_COUNT", "0"))
if SECURE:
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_SSL_REDIRECT = env_bool("DJANGO_SSL_REDIRECT", True)
    SECURE_HSTS_SECONDS = int(os.environ.get("DJANGO_HSTS_SECONDS", str(365 * 24 * 3600)))
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    if CURATOR_PROXY_COUNT > 0:
        SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_REDIRECT_EXEMPT = [r"^healthz$"]

# Content-Security-Policy: scripts and styles from our own origin only, no inline code (htmx's
# indicator style is off in base.html's htmx-config, app.css has it), nothing framed.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "object-src": ["'none'"],
        "base-uri": ["'none'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    }
}

# Shared between web processes in production; per process otherwise.
CACHES = {
    "default": (
        {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": os.environ["CURATOR_CACHE_URL"],
        }
        if os.environ.get("CURATOR_CACHE_URL")
        else {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}
    )
}

# --- Log-in throttling (django-axes) -------------------------------------------------------------
# Failures count per (username, client address) pair, never per username or per address alone:
# a stranger who fails with your username locks out only themselves, and invented usernames from
# one address (a whole office behind one NAT) lock nobody else. After CURATOR_LOGIN_FAILURE_LIMIT
# failures the pair waits CURATOR_LOGIN_DELAY_SECONDS, doubling with every further failure up to
# CURATOR_LOGIN_MAX_DELAY_SECONDS; failures are remembered for CURATOR_LOGIN_FAILURE_MEMORY
# seconds, and a successful log-in forgets them. The counts live in the database, so every web
# process sees the same ones.
LOGIN_FAILURE_LIMIT = int(os.environ.get("CURATOR_LOGIN_FAILURE_LIMIT", "5"))
LOGIN_DELAY_SECONDS = int(os.environ.get("CURATOR_LOGIN_DELAY_SECONDS", "60"))
LOGIN_MAX_DELAY_SECONDS = int(os.environ.get("CURATOR_LOGIN_MAX_DELAY_SECONDS", "3600"))
LOGIN_FAILURE_MEMORY = int(os.environ.get("CURATOR_LOGIN_FAILURE_MEMORY", str(24 * 3600)))
AXES_HANDLER = "curator.services.login_throttle.AuditedAxesHandler"
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_FAILURE_LIMIT = "curator.services.login_throttle.failure_limit"
AXES_COOLOFF_TIME = "curator.services.login_throttle.lockout_delay"
AXES_CLIENT_IP_CALLABLE = "curator.services.login_throttle.client_address"
AXES_USERNAME_CALLABLE = "curator.services.login_throttle.attempted_username"
AXES_LOCKOUT_CALLABLE = "curator.views.auth.lockout_response"
AXES_USERNAME_FORM_FIELD = "username"
AXES_RESET_ON_SUCCESS = True
# A refused attempt during a wait is audited but does not lengthen the wait: the delay grows with
# passwords actually tried, so a user hammering the button is not locked out for an hour.
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False
# Failures and lock-outs go to the project's audit log (one place to look); axes keeps only the
# counters it throttles on.
AXES_DISABLE_ACCESS_LOG = True
AXES_VERBOSE = False

# API tokens stop working this many days after they were made (0: never); changing a password
# revokes them.
CURATOR_API_TOKEN_DAYS = int(os.environ.get("CURATOR_API_TOKEN_DAYS", "90"))
