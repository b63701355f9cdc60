"""Settings for the Principled service, read from the environment in one place (django-environ).

Embedded default: with no DATABASE_URL and no broker configured, the service runs on one machine with a
SQLite file and generation jobs run in-process, so a newcomer gets an aligned reply at once.
"""

from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

from alignment_engine.config import DEFAULT_ALPHA

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = BASE_DIR / "var"

env = environ.Env()
if (BASE_DIR / ".env").is_file():
    environ.Env.read_env(str(BASE_DIR / ".env"))

# --- Core -------------------------------------------------------------------------------------------
DEBUG = env.bool("DEBUG", default=False)
SECRET_KEY = env("SECRET_KEY", default="")
SECRET_KEY_PLACEHOLDER = "change-me-to-a-long-random-string"  # the value in .env.example
if not SECRET_KEY or SECRET_KEY == SECRET_KEY_PLACEHOLDER:
    if not DEBUG:
        raise ImproperlyConfigured("SECRET_KEY must be set (not the .env.example placeholder) when DEBUG is off.")
    SECRET_KEY = "insecure-development-key-only-used-with-debug-on"
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "knox",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",  # Swagger UI and ReDoc served from the installation (no CDN)
    "core",
    "assistant",
    "preferences",
    "worker",
]

MIDDLEWARE = [
    "config.metrics.RequestMetricsMiddleware",
    "core.middleware.JsonNotFoundMiddleware",
    "core.middleware.RequestBodyLimitMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",  # serves collected static files (admin) under gunicorn/uvicorn
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"
ASGI_APPLICATION = "config.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "config" / "templates"],
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

# --- Database: PostgreSQL (psycopg 3) in production and tests; a SQLite file when unset ---------------
DATABASES = {
    "default": env.db("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'db.sqlite3'}"),
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # ASGI serves requests on many threads (core/asgi.py keeps them from one request to the next), so persistent
    # connections (CONN_MAX_AGE) would pile up one per thread; Django's native psycopg pool hands each request a
    # connection and takes it back at its end.
    # The pool's size also bounds how many requests of a process run their queries at once; the rest wait for a
    # connection instead of contending for the GIL and PostgreSQL's locks. At 32 clients on 2 cores, 4 per process
    # served ~15% more submissions than 8, with a shorter tail (docs/service.md, "Pool size").
    # DB_POOL_MAX_SIZE=0 turns the pool off (then DB_CONN_MAX_AGE applies, 0 by default).
    DB_POOL_MAX_SIZE = env.int("DB_POOL_MAX_SIZE", default=4)
    if DB_POOL_MAX_SIZE > 0:
        DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
            "min_size": min(env.int("DB_POOL_MIN_SIZE", default=2), DB_POOL_MAX_SIZE),
            "max_size": DB_POOL_MAX_SIZE,
            "timeout": env.float("DB_POOL_TIMEOUT_SECONDS", default=10.0),
        }
    else:
        DATABASES["default"]["CONN_MAX_AGE"] = env.int("DB_CONN_MAX_AGE", default=0)
        DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
    # Prepared statements: parameters bound by PostgreSQL, and a statement a connection has run N times
    # (DB_PREPARE_THRESHOLD, default 5) prepared, so PostgreSQL parses and plans it once per connection. Planning
    # was most of PostgreSQL's CPU for the polled job's lookup (38 columns, its reply joined: 250 -> 95 us), and on
    # this service's 2 cores the database shares the web workers' CPU: alternated in bench/service.py, the job
    # GET's ratio to the floor went from 0.29-0.31 to 0.36-0.38, its server CPU from 1.65 to 1.51-1.57 ms per
    # request (docs/service.md, ninth round). A bound statement holds at most 65,535 parameters: the backend
    # (core/postgresql) sizes Django's batches to that. 0 turns it off (client-side binding, as Django's default):
    # needed behind a transaction-mode pooler (PgBouncer before 1.21).
    DATABASES["default"]["ENGINE"] = "core.postgresql"
    DB_PREPARE_THRESHOLD = env.int("DB_PREPARE_THRESHOLD", default=5)
    if DB_PREPARE_THRESHOLD > 0:
        DATABASES["default"].setdefault("OPTIONS", {}).update(
            {"server_side_binding": True, "prepare_threshold": DB_PREPARE_THRESHOLD}
        )
elif DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # The embedded mode holds a few concurrent clients: WAL lets readers run beside the one writer, writers wait
    # for the lock (busy timeout) instead of failing with "database is locked", and IMMEDIATE transactions take
    # the write lock at BEGIN, so a transaction that reads then writes never dies on a lock upgrade.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "timeout": env.float("SQLITE_BUSY_TIMEOUT_SECONDS", default=30.0),
            "transaction_mode": "IMMEDIATE",
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        }
    )
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"


# How many requests of a web process run at once; the others wait on the event loop, in arrival order
# (core/running_requests.py: at 32 clients on 2 cores, 2 served 20-26% more requests per second than no limit, at
# 17% less CPU each, with a shorter tail; 3 and 4 less). Keep it at most the pool's size, so that a running request
# never waits for a connection. 0: no limit.
WEB_RUNNING_REQUESTS = env.int("WEB_RUNNING_REQUESTS", default=2)
# A request that waits longer than this for its turn is answered 503 with Retry-After (as an exhausted pool).
WEB_QUEUE_TIMEOUT_SECONDS = env.float("WEB_QUEUE_TIMEOUT_SECONDS", default=10.0)

# --- Redis, cache, Celery ------------------------------------------------------------------------------
REDIS_URL = env("REDIS_URL", default="")
CELERY_BROKER_URL = env("CELERY_BROKER_URL", default=REDIS_URL)
# No broker configured: the embedded default runs generation jobs in-process.
GENERATION_IN_PROCESS = not CELERY_BROKER_URL

if REDIS_URL:
    CACHES = {
        "default": {
            # django-redis, with one client per process instead of one per request (core/redis_cache.py)
            "BACKEND": "core.redis_cache.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": env("CACHE_KEY_PREFIX", default="principled"),
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# --- Auth, passwords, i18n, static ----------------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
STATIC_URL = "static/"
STATIC_ROOT = env("STATIC_ROOT", default=str(VAR_DIR / "static"))
# WhiteNoise serves static files (admin, Swagger UI, ReDoc) straight from the installed apps unless they were
# collected into STATIC_ROOT (the Docker image runs collectstatic and turns this off).
WHITENOISE_USE_FINDERS = env.bool("WHITENOISE_USE_FINDERS", default=True)

# --- HTTPS: secure cookies and redirects when served over HTTPS -----------------------------------------
SERVED_OVER_HTTPS = env.bool("SERVED_OVER_HTTPS", default=False)
SESSION_COOKIE_SECURE = SERVED_OVER_HTTPS
CSRF_COOKIE_SECURE = SERVED_OVER_HTTPS
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=False)
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if SERVED_OVER_HTTPS else None
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0)
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
CSRF_FAILURE_VIEW = "core.exception_handler.csrf_failure"

# --- Request limits ---------------------------------------------------------------------------------------
DATA_UPLOAD_MAX_MEMORY_SIZE = env.int("MAX_REQUEST_BODY_BYTES", default=256 * 1024)

# --- REST API ---------------------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "core.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    # JSON bodies only (415 otherwise): one body format for the schema to describe and the fuzzer to check.
    "DEFAULT_PARSER_CLASSES": ["core.strict_input.JSONParser"],
    # DRF's negotiation, without parsing the Accept headers API clients send (core/negotiation.py).
    "DEFAULT_CONTENT_NEGOTIATION_CLASS": "core.negotiation.ContentNegotiation",
    "DEFAULT_PAGINATION_CLASS": "core.pagination.BoundedLimitOffsetPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_SCHEMA_CLASS": "core.openapi.AutoSchema",
    "DEFAULT_THROTTLE_RATES": {
        "generation": env("THROTTLE_GENERATION_RATE", default="60/min"),
        "login": env("THROTTLE_LOGIN_RATE", default="10/min"),
    },
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
    "EXCEPTION_HANDLER": "core.exception_handler.api_exception_handler",
}
REST_KNOX = {
    "TOKEN_TTL": None,
    "AUTO_REFRESH": False,
}
# Seconds a verified token stays in the shared cache (core/token_cache.py: revoked at once on logout,
# deactivation and account deletion); 0 turns the cache off. Off by itself with a process-local cache.
AUTH_TOKEN_CACHE_SECONDS = env.int("AUTH_TOKEN_CACHE_SECONDS", default=60)
# Entries each process also keeps itself, dropped the moment Redis says they changed (core/tracked_reads.py: a
# known token then costs no Redis round trip either); 0: every request reads Redis.
AUTH_TOKEN_LOCAL_ENTRIES = env.int("AUTH_TOKEN_LOCAL_ENTRIES", default=10_000)
SPECTACULAR_SETTINGS = {
    "TITLE": "Principled API",
    "DESCRIPTION": "Personalised assistant replies aligned to each user's preference principles with Linear Alignment.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "PATH_CONVERTER_OVERRIDES": {"id": {"type": "integer", "minimum": 0, "maximum": 10**18 - 1}},
}

# --- Metrics: GET /metrics for staff, or with `Authorization: Bearer <METRICS_TOKEN>` when set ----------------
METRICS_TOKEN = env("METRICS_TOKEN", default="")

# --- Preferences ------------------------------------------------------------------------------------------
MAX_ACTIVE_PRINCIPLES_PER_USER = env.int("MAX_ACTIVE_PRINCIPLES_PER_USER", default=50)
# Tokens of the model's window a user's applied principles may take in all (preferences/budget.py); more gets 409.
PRINCIPLE_TOKEN_BUDGET = env.int("PRINCIPLE_TOKEN_BUDGET", default=2048)
# The arms of each user's learned steering strength (Thompson sampling); GENERATION_DEFAULT_ALPHA should be one.
STEERING_ALPHA_GRID = env.list("STEERING_ALPHA_GRID", cast=float, default=[0.0, 1.0, 2.0, 3.0, 5.0])

# --- Alignment engine (read by worker/ and passed to alignment_engine; the engine never imports Django) ---
ENGINE_MODEL = env("ENGINE_MODEL", default="")  # empty: the default SmolLM2-135M-Instruct GGUF
ENGINE_BACKEND = env("ENGINE_BACKEND", default="auto")  # torch | llamacpp | auto
ENGINE_DEVICE = env("ENGINE_DEVICE", default="")  # empty: cuda when present, else cpu
ENGINE_DTYPE = env("ENGINE_DTYPE", default="")  # empty: engine default for the device
ENGINE_THREADS = env.int("ENGINE_THREADS", default=None)  # CPU threads per engine; empty: the backend's default
ENGINE_CACHE_DIR = env("ENGINE_CACHE_DIR", default="")  # converted-model cache; empty: ~/.cache/principled/models

# --- Generation: chat, jobs, workers, streaming, callbacks ---------------------------------------------
# Celery (config/celery_app.py reads every CELERY_* setting). JSON only; a job's message is acknowledged
# after the job ran, and re-queued when the worker process dies; one message held per worker process.
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_TIME_LIMIT = env.int("GENERATION_TASK_TIME_LIMIT", default=600)
CELERY_TASK_SOFT_TIME_LIMIT = env.int("GENERATION_TASK_SOFT_TIME_LIMIT", default=540)
CELERY_TASK_DEFAULT_QUEUE = "generation"
# Light work goes to "callbacks" so it never waits behind a backlog of generation jobs.
CELERY_TASK_ROUTES = {
    "worker.tasks.deliver_callback": {"queue": "callbacks"},
    "worker.tasks.requeue_stale_jobs": {"queue": "callbacks"},
}
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Unacknowledged messages of a lost worker come back after this many seconds (Redis transport).
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": env.int("CELERY_VISIBILITY_TIMEOUT", default=900)}
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=False)
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
# Prefork children load the model in worker_process_init: give them time before the parent gives up.
CELERY_WORKER_PROC_ALIVE_TIMEOUT = env.float("CELERY_WORKER_PROC_ALIVE_TIMEOUT", default=180.0)
GENERATION_SWEEP_INTERVAL_SECONDS = env.int("GENERATION_SWEEP_INTERVAL_SECONDS", default=60)
CELERY_BEAT_SCHEDULE = {
    "requeue-stale-generation-jobs": {
        "task": "worker.tasks.requeue_stale_jobs",
        "schedule": GENERATION_SWEEP_INTERVAL_SECONDS,
    },
}

# Jobs: a queued job not started, or a running job without a heartbeat, past these deadlines is re-queued.
GENERATION_QUEUED_DEADLINE_SECONDS = env.int("GENERATION_QUEUED_DEADLINE_SECONDS", default=600)
GENERATION_RUNNING_DEADLINE_SECONDS = env.int("GENERATION_RUNNING_DEADLINE_SECONDS", default=120)
GENERATION_HEARTBEAT_SECONDS = env.float("GENERATION_HEARTBEAT_SECONDS", default=5.0)
GENERATION_MAX_ATTEMPTS = env.int("GENERATION_MAX_ATTEMPTS", default=3)
GENERATION_BATCH_SIZE = env.int("GENERATION_BATCH_SIZE", default=4)  # jobs one worker runs together
# Workers load the model as their processes start; off for workers that only deliver callbacks and sweep.
GENERATION_PRELOAD_ENGINE = env.bool("GENERATION_PRELOAD_ENGINE", default=True)
GENERATION_IN_PROCESS_WORKERS = env.int("GENERATION_IN_PROCESS_WORKERS", default=1)

# Limits (413 for sizes, 400 for parameters, 429 from the "generation" throttle rate above).
GENERATION_MAX_TOKENS = env.int("GENERATION_MAX_TOKENS", default=512)
GENERATION_DEFAULT_MAX_TOKENS = env.int("GENERATION_DEFAULT_MAX_TOKENS", default=256)
GENERATION_DEFAULT_ALPHA = env.float("GENERATION_DEFAULT_ALPHA", default=DEFAULT_ALPHA)  # bench/quality.py chose it
GENERATION_MAX_MESSAGE_CHARS = env.int("GENERATION_MAX_MESSAGE_CHARS", default=8000)
GENERATION_MAX_CONVERSATION_MESSAGES = env.int("GENERATION_MAX_CONVERSATION_MESSAGES", default=200)
GENERATION_MAX_CONVERSATION_CHARS = env.int("GENERATION_MAX_CONVERSATION_CHARS", default=24000)
GENERATION_WAIT_DEFAULT_SECONDS = env.int("GENERATION_WAIT_DEFAULT_SECONDS", default=30)
GENERATION_WAIT_MAX_SECONDS = env.int("GENERATION_WAIT_MAX_SECONDS", default=120)
GENERATION_STREAM_MAX_SECONDS = env.int("GENERATION_STREAM_MAX_SECONDS", default=600)
GENERATION_STREAM_TTL_SECONDS = env.int("GENERATION_STREAM_TTL_SECONDS", default=3600)

# Callbacks: a POST signed with the job owner's own secret (HMAC-SHA256) when a job ends; private/loopback
# targets refused unless allowed.
GENERATION_CALLBACK_ALLOW_PRIVATE = env.bool("GENERATION_CALLBACK_ALLOW_PRIVATE", default=False)
GENERATION_CALLBACK_TIMEOUT_SECONDS = env.float("GENERATION_CALLBACK_TIMEOUT_SECONDS", default=10.0)
GENERATION_CALLBACK_MAX_ATTEMPTS = env.int("GENERATION_CALLBACK_MAX_ATTEMPTS", default=6)
GENERATION_CALLBACK_BACKOFF_SECONDS = env.float("GENERATION_CALLBACK_BACKOFF_SECONDS", default=2.0)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", default="INFO")},
}
