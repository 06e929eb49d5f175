"""Bridge settings. Everything comes from environment variables (12-factor).

The defaults are safe for development: SQLite and a serverless broker under
``var/``. ``PORTAL_ENV=production`` turns on the production checks in
``portal.config`` which refuse to start with an unsafe configuration.
"""

from pathlib import Path

import dj_database_url

from portal.config import (
    DEVELOPMENT_SECRET_KEY,
    env,
    env_bool,
    env_int,
    env_json_mapping,
    env_list,
    validate_production_settings,
    validate_sign_in_settings,
)

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env("PORTAL_VAR_DIR", str(BASE_DIR / "var"))).resolve()
VAR_DIR.mkdir(parents=True, exist_ok=True)

PORTAL_ENV = env("PORTAL_ENV", "development")
PRODUCTION = PORTAL_ENV == "production"

SECRET_KEY = env("SECRET_KEY", DEVELOPMENT_SECRET_KEY)
DEBUG = env_bool("DEBUG", not PRODUCTION)
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", [] if PRODUCTION else ["localhost", "127.0.0.1", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "portal.admin_site.PortalAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_htmx",
    "axes",
    "portal.apps.PortalConfig",
    "portal.accounts.apps.AccountsConfig",
    "catalog.apps.CatalogConfig",
    "provisioning.apps.ProvisioningConfig",
    "pipelines.apps.PipelinesConfig",
    "knowledge.apps.KnowledgeConfig",
    "scaffolder.apps.ScaffolderConfig",
    "incidents.apps.IncidentsConfig",
]

MIDDLEWARE = [
    "portal.metrics.PrometheusMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "portal.security.SecurityHeadersMiddleware",
    "portal.security.RejectNulCharactersMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # Names the signed-in user and their IP in audit events written from model signals.
    "portal.request_context.RequestContextMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    # Ends sessions idle for SESSION_IDLE_MINUTES or older than SESSION_MAX_AGE_HOURS.
    "portal.accounts.middleware.SessionLimitsMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    # Last, as django-axes asks: it turns lock-outs into the lock-out page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "portal.urls"
WSGI_APPLICATION = "portal.wsgi.application"

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
                "portal.context_processors.navigation",
            ],
        },
    },
]

DEFAULT_SQLITE_URL = f"sqlite:///{VAR_DIR / 'bridge.sqlite3'}"
DATABASE_URL = env("DATABASE_URL", DEFAULT_SQLITE_URL)
DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=env_int("DB_CONN_MAX_AGE", 60))}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # The web server, the worker and beat share one file: wait for locks
    # instead of failing, and take the write lock at the start of a transaction.
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 30,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
    # A file (not memory) so that a Celery worker started by the tests sees it.
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / "test-bridge.sqlite3")}
DATABASE_IS_POSTGRES = DATABASES["default"]["ENGINE"].startswith("django.db.backends.postgresql")
if DATABASE_IS_POSTGRES:
    # The lookups made on every request (an API token, an entity by reference; see portal.db) run as
    # prepared statements: PostgreSQL then skips parsing and planning them, two thirds of their time.
    # 0 turns prepared statements off, as PgBouncer in transaction mode before 1.21 needs.
    DATABASES["default"].setdefault("OPTIONS", {})["prepare_threshold"] = env_int("DB_PREPARE_THRESHOLD", 5) or None

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "portal.backends.RoleAwareModelBackend",
]
# Login throttling: after AXES_FAILURE_LIMIT failures for one username from one
# address, that pair is locked out for AXES_COOLOFF_MINUTES. The address is the client's real one
# behind the trusted proxies (portal.accounts.network), so one person's failures never lock out
# another who shares the ingress's address.
AXES_FAILURE_LIMIT = env_int("AXES_FAILURE_LIMIT", 5)
AXES_COOLOFF_MINUTES = env_int("AXES_COOLOFF_MINUTES", 15)
AXES_COOLOFF_TIME = AXES_COOLOFF_MINUTES / 60
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_CLIENT_IP_CALLABLE = "portal.accounts.network.client_ip"
# Per-username delay: after this many failures for one username (from any addresses) within the
# cool-off, browsers that never signed in as that person may try it once every N seconds.
LOGIN_USERNAME_DELAY_AFTER = env_int("LOGIN_USERNAME_DELAY_AFTER", 10)
LOGIN_USERNAME_DELAY_SECONDS = env_int("LOGIN_USERNAME_DELAY_SECONDS", 30)
# The reverse proxies in front of the portal: how many (TRUSTED_PROXY_COUNT, e.g. 1 behind the Helm
# chart's ingress), or their addresses/networks (TRUSTED_PROXIES). Neither: the peer is the client.
TRUSTED_PROXY_COUNT = env_int("TRUSTED_PROXY_COUNT", 0)
TRUSTED_PROXIES = env_list("TRUSTED_PROXIES", [])
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
AXES_VERBOSE = False
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

# --- Sign-in with an identity provider (OpenID Connect) ------------------------------------------
# Off unless OIDC_ISSUER_URL and OIDC_CLIENT_ID are set; `make run` needs neither.
OIDC_ISSUER_URL = env("OIDC_ISSUER_URL", "")
OIDC_CLIENT_ID = env("OIDC_CLIENT_ID", "")
OIDC_CLIENT_SECRET = env("OIDC_CLIENT_SECRET", "")
OIDC_SCOPES = env("OIDC_SCOPES", "openid email profile").replace(",", " ").split()
OIDC_GROUPS_CLAIM = env("OIDC_GROUPS_CLAIM", "groups")  # a dotted path; empty: roles and teams not mapped
OIDC_USERNAME_CLAIM = env("OIDC_USERNAME_CLAIM", "preferred_username")
OIDC_BUTTON_LABEL = env("OIDC_BUTTON_LABEL", "Sign in with your company account")
OIDC_ROLE_MAPPING = env_json_mapping("OIDC_ROLE_MAPPING")  # {"Approvers": ["eng-payments"], ...}
OIDC_MANAGE_PLATFORM_ADMINS = env_bool("OIDC_MANAGE_PLATFORM_ADMINS", False)
OIDC_TEAMS_FROM_GROUPS = env_bool("OIDC_TEAMS_FROM_GROUPS", True)
OIDC_LINK_EXISTING_USERS = env_bool("OIDC_LINK_EXISTING_USERS", False)
OIDC_USE_USERINFO = env_bool("OIDC_USE_USERINFO", True)
OIDC_RP_LOGOUT = env_bool("OIDC_RP_LOGOUT", True)
OIDC_TIMEOUT_SECONDS = env_int("OIDC_TIMEOUT_SECONDS", 10)
# Password sign-in: on by default; off, only the break-glass account may use it.
PASSWORD_LOGIN_ENABLED = env_bool("PASSWORD_LOGIN_ENABLED", True)
BREAK_GLASS_USERNAME = env("BREAK_GLASS_USERNAME", "")
validate_sign_in_settings(
    issuer=OIDC_ISSUER_URL,
    client_id=OIDC_CLIENT_ID,
    password_login=PASSWORD_LOGIN_ENABLED,
    break_glass=BREAK_GLASS_USERNAME,
    role_mapping=OIDC_ROLE_MAPPING,
    manage_platform_admins=OIDC_MANAGE_PLATFORM_ADMINS,
)

# --- Sessions ----------------------------------------------------------------------------------------
SESSION_IDLE_SECONDS = env_int("SESSION_IDLE_MINUTES", 8 * 60) * 60
SESSION_ABSOLUTE_SECONDS = env_int("SESSION_MAX_AGE_HOURS", 7 * 24) * 3600
SESSION_COOKIE_AGE = SESSION_ABSOLUTE_SECONDS

# --- API tokens and throttling ---------------------------------------------------------------------
API_TOKEN_DEFAULT_DAYS = env_int("API_TOKEN_DEFAULT_DAYS", 90)
API_TOKEN_MAX_DAYS = env_int("API_TOKEN_MAX_DAYS", 365)
API_TOKEN_WARN_DAYS = env_int("API_TOKEN_WARN_DAYS", 7)
# DRF rates ("N/second|minute|hour|day"); empty turns a throttle off. Counted in the default cache:
# set CACHE_URL to a Redis URL so that every web process counts together.
API_THROTTLE_RATES = {
    "token": env("API_THROTTLE_TOKEN_RATE", "1200/minute") or None,
    "user": env("API_THROTTLE_USER_RATE", "2400/minute") or None,
}
CACHE_URL = env("CACHE_URL", "")
if CACHE_URL:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": CACHE_URL}}

# --- Operational endpoints -----------------------------------------------------------------------
# /metrics: open in development; in production it needs METRICS_TOKEN (Authorization: Bearer) or a
# client address in METRICS_ALLOWED_IPS (addresses or networks), and refuses everyone with neither set.
METRICS_TOKEN = env("METRICS_TOKEN", "")
METRICS_ALLOWED_IPS = env_list("METRICS_ALLOWED_IPS", [])
METRICS_OPEN = env_bool("METRICS_OPEN", not PRODUCTION)
# /api/schema/ and /api/docs/: sign-in needed in production unless turned off.
API_DOCS_REQUIRE_SIGN_IN = env_bool("API_DOCS_REQUIRE_SIGN_IN", PRODUCTION)

LANGUAGE_CODE = "en-us"
TIME_ZONE = env("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = Path(env("STATIC_ROOT", str(VAR_DIR / "static")))
STATIC_ROOT.mkdir(parents=True, exist_ok=True)
MEDIA_ROOT = Path(env("MEDIA_ROOT", str(VAR_DIR / "media")))
MEDIA_URL = "media/"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "whitenoise.storage.CompressedManifestStaticFilesStorage"
            if PRODUCTION
            else "django.contrib.staticfiles.storage.StaticFilesStorage"
        )
    },
}

PORTAL_BASE_URL = env("PORTAL_BASE_URL", "http://127.0.0.1:8000")
# Team chat webhooks: https to public hosts only, unless these say otherwise (a chat server
# inside the network, a test receiver on 127.0.0.1).
CHAT_WEBHOOK_ALLOW_HTTP = env_bool("CHAT_WEBHOOK_ALLOW_HTTP", False)
CHAT_WEBHOOK_ALLOW_PRIVATE = env_bool("CHAT_WEBHOOK_ALLOW_PRIVATE", False)
EMAIL_BACKEND = env("EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
DEFAULT_FROM_EMAIL = env("DEFAULT_FROM_EMAIL", "bridge@localhost")
EMAIL_HOST = env("EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("EMAIL_PORT", 25)
EMAIL_HOST_USER = env("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = env("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
EMAIL_TIMEOUT = env_int("EMAIL_TIMEOUT", 10)

# --- Security -----------------------------------------------------------------
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
if PRODUCTION:
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
    SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", True)
    SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", True)
    if env_bool("SECURE_PROXY_SSL_HEADER", False):
        SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    # The health endpoints are probed over plain HTTP inside the cluster.
    SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$", r"^metrics$"]

# --- REST API -------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "portal.authentication.PersonalTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_THROTTLE_CLASSES": [
        "portal.accounts.throttling.TokenRateThrottle",
        "portal.accounts.throttling.UserRateThrottle",
    ],
    "DEFAULT_PAGINATION_CLASS": "portal.api.pagination.PageNumberPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "portal.api.errors.exception_handler",
    "DEFAULT_RENDERER_CLASSES": [
        "portal.api.renderers.OrjsonRenderer",
        "rest_framework.renderers.BrowsableAPIRenderer",
    ],
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Bridge API",
    "DESCRIPTION": "The REST API of Bridge, the internal developer portal.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # Deep links put a link inside each operation's summary button (a control nested in a control).
    "SWAGGER_UI_SETTINGS": {"deepLinking": False},
    "COMPONENT_SPLIT_REQUEST": True,
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "portal.api.schema.add_error_responses",
    ],
}

# --- Celery ---------------------------------------------------------------------
# The longest a Terraform run may take; the broker must not redeliver a task
# that is still running, so its visibility timeout is longer than this.
RUN_TIME_LIMIT_SECONDS = env_int("RUN_TIME_LIMIT_SECONDS", 3600)
BROKER_DATA_DIR = Path(env("BROKER_DATA_DIR", str(VAR_DIR / "broker")))
CELERY_BROKER_URL = env("CELERY_BROKER_URL", "filesystem://localhost/")
if CELERY_BROKER_URL.startswith("filesystem://"):
    for folder in ("queue", "processed", "control"):
        (BROKER_DATA_DIR / folder).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(BROKER_DATA_DIR / "queue"),
        "data_folder_out": str(BROKER_DATA_DIR / "queue"),
        "processed_folder": str(BROKER_DATA_DIR / "processed"),
        "control_folder": str(BROKER_DATA_DIR / "control"),
        "store_processed": False,
        "polling_interval": 0.2,
    }
else:
    CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": RUN_TIME_LIMIT_SECONDS + 1800}
    # Several portals (or parallel test processes) can share one Redis: each prefixes its keys.
    if env("CELERY_BROKER_KEY_PREFIX", ""):
        CELERY_BROKER_TRANSPORT_OPTIONS["global_keyprefix"] = env("CELERY_BROKER_KEY_PREFIX", "")
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TASK_DEFAULT_QUEUE = "default"
# Tasks that run Terraform go to the "provisioning" queue so that a long apply never holds up
# email delivery or housekeeping; every other task (provisioning's short ones included) goes to
# "default". The keys are the tasks' registered names (tests/provisioning/test_routing.py).
CELERY_TASK_ROUTES = {
    "provisioning.execute_run": {"queue": "provisioning"},
    "provisioning.check_drift": {"queue": "provisioning"},
    # Sent to the queue of the host where the run's Terraform runs (provisioning.host.<name>);
    # this route only names where it would go without one.
    "provisioning.supervise_run": {"queue": "provisioning"},
}
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SOFT_TIME_LIMIT = env_int("CELERY_TASK_SOFT_TIME_LIMIT", 300)
CELERY_TASK_TIME_LIMIT = env_int("CELERY_TASK_TIME_LIMIT", 360)
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_IGNORE_RESULT = True
CELERY_TIMEZONE = TIME_ZONE
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")
CELERY_BEAT_SCHEDULE: dict = {
    "portal-resend-stale-deliveries": {"task": "portal.resend_stale_deliveries", "schedule": 300.0},
    "portal-warn-expiring-tokens": {"task": "portal.warn_expiring_tokens", "schedule": 3600.0},
}

# --- Tools ------------------------------------------------------------------------
TERRAFORM_BIN = env("TERRAFORM_BIN", "")
KUBECONFIG = env("KUBECONFIG", "")

# --- Logging ----------------------------------------------------------------------
LOG_LEVEL = env("LOG_LEVEL", "INFO")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        # python-terraform logs whole commands and their output at INFO, which
        # would put variables and outputs (secrets included) in the logs.
        "python_terraform": {"level": "WARNING"},
        "django.db.backends": {"level": "WARNING"},
        "axes": {"level": "WARNING"},
    },
}

if PRODUCTION:
    validate_production_settings(
        debug=DEBUG,
        secret_key=SECRET_KEY,
        allowed_hosts=ALLOWED_HOSTS,
    )

# --- encryption at rest ------------------------------------------------------------
# Secrets Bridge reads back (secret template parameters, webhook secrets) are stored
# encrypted with keys derived from this value (SECRET_KEY by default). Changing it makes
# the stored secrets unreadable: requests with secret parameters must then be submitted again.
PORTAL_ENCRYPTION_KEY = env("PORTAL_ENCRYPTION_KEY", env("PIPELINES_ENCRYPTION_KEY", SECRET_KEY))
# --- provisioning ---------------------------------------------------------------------
# Where `manage.py load_templates` (and the admin's reload button) read templates from.
PROVISIONING_TEMPLATES_DIR = Path(
    env("PROVISIONING_TEMPLATES_DIR", str(BASE_DIR / "provisioning" / "environment_templates"))
).resolve()
# One Terraform working directory (module, variables, plan, local state) per request.
PROVISIONING_WORK_DIR = Path(env("PROVISIONING_WORK_DIR", str(VAR_DIR / "provisioning"))).resolve()
# A running run whose worker has not written a heartbeat for this long is marked failed.
# Terraform runs detached, so it outlives a worker that dies; a worker on the same host then
# takes the run over. The reaper looks every PROVISIONING_REAP_SECONDS for runs without a
# heartbeat for PROVISIONING_DEAD_RUN_SECONDS: a dead worker is found within about a minute.
PROVISIONING_HEARTBEAT_SECONDS = env_int("PROVISIONING_HEARTBEAT_SECONDS", 5)
PROVISIONING_DEAD_RUN_SECONDS = env_int("PROVISIONING_DEAD_RUN_SECONDS", 45)
PROVISIONING_REAP_SECONDS = env_int("PROVISIONING_REAP_SECONDS", 15)
# Queued runs whose message could not reach the broker are handed over by a relay every
# PROVISIONING_RELAY_SECONDS, once they are PROVISIONING_RELAY_AFTER_SECONDS old; a run that
# was dispatched but never claimed is sent again after PROVISIONING_REDISPATCH_SECONDS.
PROVISIONING_RELAY_SECONDS = env_int("PROVISIONING_RELAY_SECONDS", 10)
PROVISIONING_RELAY_AFTER_SECONDS = env_int("PROVISIONING_RELAY_AFTER_SECONDS", 5)
PROVISIONING_REDISPATCH_SECONDS = env_int("PROVISIONING_REDISPATCH_SECONDS", 600)
# Seconds Terraform gets to stop cleanly after an interrupt (cancel, time limit).
PROVISIONING_INTERRUPT_GRACE_SECONDS = env_int("PROVISIONING_INTERRUPT_GRACE_SECONDS", 30)
CELERY_BEAT_SCHEDULE["provisioning-relay-queued-runs"] = {
    "task": "provisioning.relay_queued_runs",
    "schedule": float(PROVISIONING_RELAY_SECONDS),
}
CELERY_BEAT_SCHEDULE["provisioning-reap-dead-runs"] = {
    "task": "provisioning.reap_dead_runs",
    "schedule": float(PROVISIONING_REAP_SECONDS),
}
# Terraform state: "local" (a file in each request's working directory) or "pg"
# (Terraform's pg backend on the portal's PostgreSQL, one schema per environment).
PROVISIONING_STATE_BACKEND = env("PROVISIONING_STATE_BACKEND", "pg" if DATABASE_IS_POSTGRES else "local")
# How long Terraform waits for a state lock another run holds before it gives up (-lock-timeout).
PROVISIONING_LOCK_TIMEOUT_SECONDS = env_int("PROVISIONING_LOCK_TIMEOUT_SECONDS", 300)
# --- knowledge ---------------------------------------------------------------------
# Server directories an mkdocs project may be imported from (colon- or comma-separated).
KNOWLEDGE_IMPORT_ROOTS = [
    str(Path(p).resolve()) for p in env("KNOWLEDGE_IMPORT_ROOTS", "").replace(":", ",").split(",") if p.strip()
]
KNOWLEDGE_MAX_PAGE_BYTES = env_int("KNOWLEDGE_MAX_PAGE_BYTES", 512 * 1024)
KNOWLEDGE_MAX_UPLOAD_BYTES = env_int("KNOWLEDGE_MAX_UPLOAD_BYTES", 20 * 1024 * 1024)
KNOWLEDGE_MAX_IMPORT_BYTES = env_int("KNOWLEDGE_MAX_IMPORT_BYTES", 50 * 1024 * 1024)
KNOWLEDGE_MAX_IMPORT_FILES = env_int("KNOWLEDGE_MAX_IMPORT_FILES", 2000)
KNOWLEDGE_BUILD_TIMEOUT_SECONDS = env_int("KNOWLEDGE_BUILD_TIMEOUT_SECONDS", 120)
KNOWLEDGE_MAX_ATTACHMENT_BYTES = env_int("KNOWLEDGE_MAX_ATTACHMENT_BYTES", 10 * 1024 * 1024)
KNOWLEDGE_SITES_DIR = Path(env("KNOWLEDGE_SITES_DIR", str(VAR_DIR / "knowledge-sites")))
KNOWLEDGE_SITE_LINK_SECONDS = env_int("KNOWLEDGE_SITE_LINK_SECONDS", 8 * 3600)
# --- incidents (alerts) ----------------------------------------------------------
# Alert labels that name the service, tried in this order; a value matches an entity's name (or
# ref) or its backstage.io/kubernetes-id annotation.
INCIDENTS_ENTITY_LABELS = env_list(
    "INCIDENTS_ENTITY_LABELS", ["service", "app", "app.kubernetes.io/name", "backstage_io_kubernetes_id"]
)
# The alert's severity label → Bridge's severity (sev1..sev4), as "label=sev,...". Unknown: sev3.
INCIDENTS_SEVERITY_MAP = {
    k.strip().lower(): v.strip()
    for k, _, v in (
        item.partition("=")
        for item in env_list(
            "INCIDENTS_SEVERITY_MAP",
            ["critical=sev1", "page=sev1", "high=sev2", "error=sev2", "major=sev2", "warning=sev3", "minor=sev3",
             "low=sev4", "info=sev4", "none=sev4"],
        )
    )
    if k.strip() and v.strip() in {"sev1", "sev2", "sev3", "sev4"}
}  # fmt: skip
INCIDENTS_DEFAULT_SEVERITY = env("INCIDENTS_DEFAULT_SEVERITY", "sev3")
# When all of an incident's alerts resolve: resolve it (true) or ask its team to confirm (false).
# A service overrides this with the annotation bridge.io/auto-resolve: "true" or "false".
INCIDENTS_AUTO_RESOLVE = env_bool("INCIDENTS_AUTO_RESOLVE", True)
# At most one incident notification per service in this many seconds (flapping alerts).
INCIDENTS_NOTIFY_MIN_INTERVAL_SECONDS = env_int("INCIDENTS_NOTIFY_MIN_INTERVAL_SECONDS", 600)
INCIDENTS_MAX_BODY_BYTES = env_int("INCIDENTS_MAX_BODY_BYTES", 4 * 1024 * 1024)
# How far before the first alert the incident page looks for deployments (suspects).
INCIDENTS_SUSPECT_WINDOW_SECONDS = env_int("INCIDENTS_SUSPECT_WINDOW_SECONDS", 2 * 3600)
# Alertmanager notifications are stored, answered, and applied by a worker; applied ones are kept
# this many days (their alerts and incidents stay). Pending ones are queued again every minute.
INCIDENTS_NOTIFICATION_RETENTION_DAYS = env_int("INCIDENTS_NOTIFICATION_RETENTION_DAYS", 30)
CELERY_BEAT_SCHEDULE["incidents-requeue-pending-notifications"] = {
    "task": "incidents.requeue_pending_notifications",
    "schedule": 60.0,
}
CELERY_BEAT_SCHEDULE["incidents-prune-notifications"] = {"task": "incidents.prune_notifications", "schedule": 86400.0}
# --- pipelines ---
# Webhook secrets are stored encrypted with a key derived from this value
# (PORTAL_ENCRYPTION_KEY by default); changing it makes the stored secrets unreadable.
PIPELINES_ENCRYPTION_KEY = env("PIPELINES_ENCRYPTION_KEY", PORTAL_ENCRYPTION_KEY)
PIPELINES_MAX_BODY_BYTES = env_int("PIPELINES_MAX_BODY_BYTES", 2 * 1024 * 1024)
PIPELINES_PRODUCTION_ENVIRONMENTS = env_list("PIPELINES_PRODUCTION_ENVIRONMENTS", ["production", "prod", "prd"])
# The cache alias the receivers use to send at most two drain tasks a second each (pipelines.services._kick);
# any cache is correct, a shared one (Redis) only means fewer drain tasks.
PIPELINES_KICK_CACHE = env("PIPELINES_KICK_CACHE", "default")
# How many drains may apply deliveries at the same time (PostgreSQL). One keeps a burst of webhooks from
# taking every worker process and the CPU the receivers need; raise it when one cannot keep up.
PIPELINES_DRAIN_CONCURRENCY = env_int("PIPELINES_DRAIN_CONCURRENCY", 1)
# Distinct OpenAPI enum names for the pipelines' status fields (otherwise drf-spectacular warns W001).
SPECTACULAR_SETTINGS.setdefault("ENUM_NAME_OVERRIDES", {}).update(
    {
        "PipelineRunStatusEnum": "pipelines.models.RunStatus",
        "DeploymentStatusEnum": "pipelines.models.DeploymentStatus",
        "DeliveryStatusEnum": "pipelines.models.DeliveryStatus",
        "ProvisioningRunKindEnum": "provisioning.models.RunKind",
        "PageKindEnum": "knowledge.models.PageKind",
        "EnvironmentRequestStateEnum": "provisioning.models.RequestState",
        "ScaffolderRunStateEnum": "scaffolder.models.RunState",
        "ScaffolderStepStateEnum": "scaffolder.models.StepState",
    }
)
CELERY_BEAT_SCHEDULE["pipelines-rematch-repositories"] = {
    "task": "pipelines.tasks.rematch_repositories",
    "schedule": 600.0,
}
PIPELINES_DELIVERY_RETENTION_DAYS = env_int("PIPELINES_DELIVERY_RETENTION_DAYS", 30)
CELERY_BEAT_SCHEDULE["pipelines-requeue-stale-deliveries"] = {
    "task": "pipelines.tasks.requeue_stale_deliveries",
    "schedule": 300.0,
}
CELERY_BEAT_SCHEDULE["pipelines-prune-deliveries"] = {"task": "pipelines.tasks.prune_deliveries", "schedule": 86400.0}
# History from GitHub's and GitLab's APIs: how far back connecting a repository reads, and how often the
# reconcile asks what changed (one conditional request per repository when nothing did).
PIPELINES_BACKFILL_DAYS = env_int("PIPELINES_BACKFILL_DAYS", 90)
PIPELINES_RECONCILE_SECONDS = env_int("PIPELINES_RECONCILE_SECONDS", 900)
# A reconcile reads the deployments list when the runs (pipelines) list changed, and at least this often: for
# deployments made by tools other than the CI, whose lost webhook no run change reveals.
PIPELINES_HISTORY_DEPLOYMENTS_SECONDS = env_int("PIPELINES_HISTORY_DEPLOYMENTS_SECONDS", 6 * 3600)
# Requests at a time for the details of a page (a run's jobs); 1 follows GitHub's advice to the letter.
PIPELINES_HISTORY_CONCURRENCY = env_int("PIPELINES_HISTORY_CONCURRENCY", 4)
CELERY_BEAT_SCHEDULE["pipelines-reconcile-history"] = {
    "task": "pipelines.tasks.reconcile_history",
    "schedule": float(PIPELINES_RECONCILE_SECONDS),
}
# --- catalog ---------------------------------------------------------------------
# Folders the web and API import may read catalog-info.yaml files from (comma-separated).
CATALOG_IMPORT_ROOTS = env_list("CATALOG_IMPORT_ROOTS", [])
# Largest pasted or uploaded YAML (and largest file read from a folder), in bytes.
CATALOG_UPLOAD_MAX_BYTES = env_int("CATALOG_UPLOAD_MAX_BYTES", 10 * 1024 * 1024)
CELERY_BEAT_SCHEDULE["catalog-scorecards-nightly"] = {
    "task": "catalog.evaluate_scorecards",
    "schedule": 24 * 60 * 60,
    "options": {"expires": 6 * 60 * 60},
}
# --- provisioning: Kubernetes, expiry and drift (issue 5) ------------------------------
# How long a destroy waits for a namespace to be gone, and how often it looks.
PROVISIONING_NAMESPACE_DELETE_TIMEOUT = env_int("PROVISIONING_NAMESPACE_DELETE_TIMEOUT", 600)
PROVISIONING_NAMESPACE_POLL_SECONDS = float(env("PROVISIONING_NAMESPACE_POLL_SECONDS", "2"))
# A new environment's namespace does not exist yet at plan time, so the API server's dry-run
# of its objects runs in this existing namespace (nothing is stored there).
PROVISIONING_DRY_RUN_NAMESPACE = env("PROVISIONING_DRY_RUN_NAMESPACE", "default")
CELERY_BEAT_SCHEDULE["provisioning-sweep-expired"] = {"task": "provisioning.sweep_environments", "schedule": 300.0}
CELERY_BEAT_SCHEDULE["provisioning-cleanup-workdirs"] = {"task": "provisioning.cleanup_workdirs", "schedule": 3600.0}
CELERY_BEAT_SCHEDULE["provisioning-check-drift"] = {"task": "provisioning.check_drift_all", "schedule": 6 * 3600.0}
# --- Git hosts (portal.githosts) ------------------------------------------------------------
# A JSON list of integrations: [{"type": "github"|"gitlab"|"git", "host": "github.com",
# "api_base_url": "...", "token": "...", "allow_private_addresses": false}]. Bridge reads only
# from these hosts and those a Platform Admin adds in the admin (tokens encrypted there).
GIT_INTEGRATIONS = env("GIT_INTEGRATIONS", "")
GIT_HTTP_MAX_BYTES = env_int("GIT_HTTP_MAX_BYTES", 10 * 1024 * 1024)
GIT_HTTP_CONNECT_TIMEOUT = env_int("GIT_HTTP_CONNECT_TIMEOUT", 5)
GIT_HTTP_READ_TIMEOUT = env_int("GIT_HTTP_READ_TIMEOUT", 20)
GIT_HTTP_DEADLINE = env_int("GIT_HTTP_DEADLINE", 60)
# The longest a request waits for a rate limit to pass; a longer wait defers the work instead.
GIT_HTTP_MAX_RATE_WAIT = env_int("GIT_HTTP_MAX_RATE_WAIT", 10)
GIT_COMMAND_TIMEOUT = env_int("GIT_COMMAND_TIMEOUT", 60)
GIT_CACHE_DIR = Path(env("GIT_CACHE_DIR", str(VAR_DIR / "git-cache")))
# --- scaffolder: software templates -----------------------------------------------------------
# Folders of software templates besides the ones Bridge ships (scaffolder/software_templates).
SCAFFOLDER_TEMPLATE_DIRS = env_list("SCAFFOLDER_TEMPLATE_DIRS", [])
# Templates in Git repositories, read through the Git integrations: a JSON list of
# {"url": "https://github.com/acme/templates.git", "ref": "main", "path": "python-service"}.
SCAFFOLDER_TEMPLATE_REPOSITORIES = env("SCAFFOLDER_TEMPLATE_REPOSITORIES", "")
# A folder of bare repositories on the portal's disk that runs may create (the offline demo);
# empty turns the destination off. Development uses var/git.
SCAFFOLDER_LOCAL_GIT_ROOT = env("SCAFFOLDER_LOCAL_GIT_ROOT", "" if PRODUCTION else str(VAR_DIR / "git"))
# The committer of every first commit (the author is the developer who asked for it).
SCAFFOLDER_COMMITTER_NAME = env("SCAFFOLDER_COMMITTER_NAME", "Bridge")
SCAFFOLDER_COMMITTER_EMAIL = env("SCAFFOLDER_COMMITTER_EMAIL", "bridge@portal.invalid")
# --- catalog: locations in Git repositories and discovery -------------------------------------
# How often every location is asked "changed since?" (conditional requests; unchanged costs no write).
CATALOG_LOCATION_REFRESH_SECONDS = env_int("CATALOG_LOCATION_REFRESH_SECONDS", 300)
# How often discoveries list their organisation's or group's repositories.
CATALOG_DISCOVERY_SCAN_SECONDS = env_int("CATALOG_DISCOVERY_SCAN_SECONDS", 3600)
# Parallel requests while refreshing many locations (per worker process).
CATALOG_LOCATION_THREADS = env_int("CATALOG_LOCATION_THREADS", 8)
CELERY_BEAT_SCHEDULE["catalog-refresh-locations"] = {
    "task": "catalog.refresh_locations",
    "schedule": float(CATALOG_LOCATION_REFRESH_SECONDS),
    "options": {"expires": CATALOG_LOCATION_REFRESH_SECONDS},
}
CELERY_BEAT_SCHEDULE["catalog-scan-discoveries"] = {
    "task": "catalog.scan_discoveries",
    "schedule": float(CATALOG_DISCOVERY_SCAN_SECONDS),
    "options": {"expires": CATALOG_DISCOVERY_SCAN_SECONDS},
}
