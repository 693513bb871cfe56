"""Settings, layered as defaults, then the environment (django-environ), then computed values.

With no configuration at all the platform runs on SQLite with Celery tasks executed eagerly and a
development key ring generated into `.local/` (git-ignored). Production sets `DEBUG=false`,
`SECRET_KEY`, `ALLOWED_HOSTS`, `DATABASE_URL`, `CELERY_BROKER_URL` and `CONNECTIONS_KEYS`; secrets are
read here and nowhere else.
"""

from __future__ import annotations

import base64
import os
import secrets
from datetime import timedelta
from pathlib import Path

import environ
from celery.schedules import crontab
from csp.constants import NONE, SELF
from django.core.exceptions import ImproperlyConfigured

from core.api.tags import TAG_DESCRIPTIONS

BASE_DIR = Path(__file__).resolve().parent.parent
LOCAL_DIR = Path(os.environ.get("LOCAL_STATE_DIR", BASE_DIR / ".local"))

env = environ.Env()
if (BASE_DIR / ".env").is_file():
    env.read_env(BASE_DIR / ".env")

DEBUG = env.bool("DEBUG", default=True)


def _local_secret(name: str, make: callable) -> str:  # type: ignore[valid-type]
    """Read a development-only secret from `.local/<name>`, creating it (0600) on first use.

    Only used when DEBUG is on; production must provide the value in the environment, so a
    deployment can never silently run on a key that lives in the source tree's working copy.
    """
    path = LOCAL_DIR / name
    if path.is_file():
        return path.read_text().strip()
    LOCAL_DIR.mkdir(parents=True, exist_ok=True)
    value = make()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(value + "\n")
    return value


def _required_in_production(name: str, make: callable) -> str:  # type: ignore[valid-type]
    value = env.str(name, default="")
    if value:
        return value
    if not DEBUG:
        raise ImproperlyConfigured(f"{name} must be set in the environment when DEBUG is off.")
    return _local_secret(name.lower(), make)


SECRET_KEY = _required_in_production("SECRET_KEY", lambda: secrets.token_urlsafe(50))
# Key ring for connection secrets: "kid:base64key,kid2:base64key2"; the first entry is primary.
CONNECTIONS_KEYS = _required_in_production(
    "CONNECTIONS_KEYS", lambda: "dev1:" + base64.b64encode(secrets.token_bytes(32)).decode()
)

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "accounts.apps.PlatformAdminConfig",  # django.contrib.admin, operators only (accounts/admin_site.py)
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "guardian",
    "axes",
    # --- login hardening: two-factor devices (TOTP apps and recovery codes)
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_otp.plugins.otp_static",
    # --- end login hardening
    "core",
    "accounts",
    "connections",
    "identity",
    "vpn",
    "finops",
    "projects",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "core.middleware.RequestContextMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "core.middleware.CommonMiddleware",  # a POST/DELETE missing its trailing slash: 404, never 500
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",  # login hardening: request.user.is_verified()
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",  # Content-Security-Policy (CONTENT_SECURITY_POLICY below)
    "core.middleware.PermissionsPolicyMiddleware",
    "axes.middleware.AxesMiddleware",
    "accounts.middleware.PermissionDeniedAuditMiddleware",  # 403s from the role table -> audit (rate-bounded)
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
                "accounts.context_processors.organizations",
            ],
        },
    },
]

DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}")}
DATABASES["default"]["ATOMIC_REQUESTS"] = False
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets readers proceed while a writer commits; the timeout waits out short write locks.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {"timeout": 20, "init_command": "PRAGMA journal_mode=WAL;", "transaction_mode": "IMMEDIATE"}
    )
    # A file (not shared-cache memory) for the test database, so tests with concurrent threads get
    # SQLite's real locking instead of "table is locked" errors.
    LOCAL_DIR.mkdir(parents=True, exist_ok=True)
    DATABASES["default"]["TEST"] = {"NAME": str(LOCAL_DIR / f"test-db-{os.getpid()}.sqlite3")}
else:
    # One test database per process, so parallel test runs on one server never clobber each other.
    DATABASES["default"]["TEST"] = {"NAME": f"test_{DATABASES['default']['NAME']}_{os.getpid()}"}
    DATABASES["default"]["CONN_MAX_AGE"] = env.int("DATABASE_CONN_MAX_AGE", default=60)
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_USER_MODEL = "accounts.User"
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
    "guardian.backends.ObjectPermissionBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 10}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

# --- Login abuse (accounts/authn/limits.py; README "Login protection") ---
# django-axes locks one (email, client address) pair after AXES_FAILURE_LIMIT failures, for the cool-off
# after the last one. The client address is the audit trail's (core.middleware.client_ip: REMOTE_ADDR, or
# the entry the TRUSTED_PROXY_COUNT-th proxy appended to X-Forwarded-For), never a client-supplied header.
AXES_FAILURE_LIMIT = env.int("AXES_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = timedelta(minutes=env.int("AXES_COOLOFF_MINUTES", default=15))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False  # refused attempts do not extend the lock (honest Retry-After)
AXES_VERBOSE = False
AXES_ENABLED = env.bool("AXES_ENABLED", default=True)
AXES_CLIENT_IP_CALLABLE = "core.middleware.client_ip"
AXES_LOCKOUT_CALLABLE = "accounts.lockout.lockout_response"
AXES_USERNAME_CALLABLE = "accounts.lockout.lockout_username"
# Our own layer (Django cache): one address failing across many accounts (password spraying) is held for
# the window; one account failing from many addresses is slowed down (a progressive, bounded delay), never locked.
LOGIN_FAILURE_WINDOW = env.int("LOGIN_FAILURE_WINDOW_MINUTES", default=15) * 60  # seconds
LOGIN_ADDRESS_FAILURE_LIMIT = env.int("LOGIN_ADDRESS_FAILURE_LIMIT", default=30)
LOGIN_ACCOUNT_DELAY_AFTER = env.int("LOGIN_ACCOUNT_DELAY_AFTER", default=3)
LOGIN_ACCOUNT_DELAY_MAX = env.int("LOGIN_ACCOUNT_DELAY_MAX_SECONDS", default=30)  # seconds
# Password reset requests: per client address (429 beyond it) and per target e-mail (silently no mail beyond it).
PASSWORD_RESET_ADDRESS_LIMIT = env.int("PASSWORD_RESET_ADDRESS_LIMIT", default=10)
PASSWORD_RESET_EMAIL_LIMIT = env.int("PASSWORD_RESET_EMAIL_LIMIT", default=3)
PASSWORD_RESET_WINDOW = env.int("PASSWORD_RESET_WINDOW_MINUTES", default=60) * 60  # seconds
# Two-factor (django-otp): the issuer authenticator apps show; the admin never shows a device's key or codes.
OTP_TOTP_ISSUER = env.str("OTP_TOTP_ISSUER", default="Cloud Connections")
OTP_ADMIN_HIDE_SENSITIVE_DATA = True
# The cache holds the counters above and the API throttles: per process by default (a system check warns
# with DEBUG off); production shares one, e.g. CACHE_URL=redis://redis:6379/1.
CACHES = {
    "default": env.cache_url("CACHE_URL", default="locmemcache://"),
    # Rendered page fragments (core/fragments.py), keyed by what they show: per process on purpose, so a
    # deploy (new templates and code, new processes) never meets HTML rendered by the previous release.
    "fragments": {
        "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
        "LOCATION": "fragments",
        "TIMEOUT": 24 * 3600,
        "OPTIONS": {"MAX_ENTRIES": env.int("FRAGMENT_CACHE_ENTRIES", default=5000)},
    },
}
# --- end login abuse

GUARDIAN_RAISE_403 = False
ANONYMOUS_USER_NAME = None

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if not DEBUG
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}

# --- Security (production hardening; `manage.py check --deploy` is clean with DEBUG off) ---
SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = False
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
SECURE_REFERRER_POLICY = "same-origin"
if not DEBUG:
    SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=True)
    SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$"]
# Content-Security-Policy (django-csp): pages load scripts, styles, images and fonts from the platform only; no
# inline script or style anywhere (templates keep CSS/JS in static/; provider colours come from a generated
# stylesheet). The API docs page widens it for itself only (config/urls.py). tests/e2e fail on any violation.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF],
        "font-src": [SELF],
        "connect-src": [SELF],
        "object-src": [NONE],
        "base-uri": [NONE],
        "frame-ancestors": [NONE],
        "form-action": [SELF],
    },
}
# Browser features no page of the platform uses, switched off for it and anything it could embed.
PERMISSIONS_POLICY = env.str(
    "PERMISSIONS_POLICY",
    default="accelerometer=(), autoplay=(), camera=(), display-capture=(), encrypted-media=(), fullscreen=(), "
    "geolocation=(), gyroscope=(), magnetometer=(), microphone=(), midi=(), payment=(), "
    "publickey-credentials-get=(), screen-wake-lock=(), serial=(), usb=(), xr-spatial-tracking=()",
)
if env.bool("BEHIND_TLS_PROXY", default=False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
TRUSTED_PROXY_COUNT = env.int("TRUSTED_PROXY_COUNT", default=0)

# --- Email ---
EMAIL_CONFIG = env.email_url("EMAIL_URL", default="consolemail://")
vars().update(EMAIL_CONFIG)
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="platform@localhost")

# --- Celery ---
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default="")
CELERY_RESULT_BACKEND = env.str("CELERY_RESULT_BACKEND", default="") or None
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=not CELERY_BROKER_URL)
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_BROKER_CONNECTION_TIMEOUT = 3
if not CELERY_BROKER_URL:
    CELERY_BROKER_URL = "memory://"
# Health checks: every active connection is tested this often (seconds), in chunks fanned out to workers.
HEALTH_CHECK_INTERVAL_SECONDS = env.int("HEALTH_CHECK_INTERVAL_SECONDS", default=3600)
HEALTH_CHECK_CHUNK_SIZE = env.int("HEALTH_CHECK_CHUNK_SIZE", default=50)
CONNECTION_CHECK_TIMEOUT = env.float("CONNECTION_CHECK_TIMEOUT", default=10.0)
# Rotation reminders: stored credentials are due after this many days (one alert), overdue after the
# grace period on top (a second alert). Checked hourly; each reminder goes out once per credentials.
ROTATION_REMINDER_DAYS = env.int("ROTATION_REMINDER_DAYS", default=90)
ROTATION_OVERDUE_GRACE_DAYS = env.int("ROTATION_OVERDUE_GRACE_DAYS", default=14)
# Roles of active connections are re-validated this often (seconds): slower than the health checks,
# since each validation reads the role's policies. A role validated more recently is skipped.
ROLE_REVALIDATION_INTERVAL = env.int("ROLE_REVALIDATION_INTERVAL", default=86400)
# Signed audit checkpoints (accounts.audit.write_checkpoints): how often each chain's head is signed.
AUDIT_CHECKPOINT_INTERVAL_SECONDS = env.int("AUDIT_CHECKPOINT_INTERVAL_SECONDS", default=3600)
# Site-to-site VPNs (vpn app): in the platform's own AWS account (default boto3 credential chain).
VPN_AWS_REGION = env.str("VPN_AWS_REGION", default="us-east-1")
VPN_VPC_ID = env.str("VPN_VPC_ID", default="")
VPN_VPC_CIDR = env.str("VPN_VPC_CIDR", default="10.250.0.0/16")
VPN_TUNNEL_HOURLY_PRICE = env.float("VPN_TUNNEL_HOURLY_PRICE", default=0.025)
VPN_HEALTH_CHECK_INTERVAL_SECONDS = env.int("VPN_HEALTH_CHECK_INTERVAL_SECONDS", default=3600)
CELERY_BEAT_SCHEDULE = {
    "vpn-health-sweep": {
        "task": "vpn.tasks.vpn_health_sweep",
        "schedule": VPN_HEALTH_CHECK_INTERVAL_SECONDS,
        "options": {"expires": VPN_HEALTH_CHECK_INTERVAL_SECONDS},
    },
    "connection-health-sweep": {
        "task": "connections.tasks.health_sweep",
        "schedule": HEALTH_CHECK_INTERVAL_SECONDS,
        "options": {"expires": HEALTH_CHECK_INTERVAL_SECONDS},
    },
    "connection-rotation-reminders": {
        "task": "connections.tasks.rotation_reminder_sweep",
        "schedule": 3600,
        "options": {"expires": 3600},
    },
    "connection-role-revalidation": {
        "task": "connections.tasks.role_revalidation_sweep",
        "schedule": ROLE_REVALIDATION_INTERVAL,
        "options": {"expires": ROLE_REVALIDATION_INTERVAL},
    },
    "audit-checkpoints": {
        "task": "accounts.tasks.write_audit_checkpoints",
        "schedule": AUDIT_CHECKPOINT_INTERVAL_SECONDS,
        "options": {"expires": AUDIT_CHECKPOINT_INTERVAL_SECONDS},
    },
}
# OAuth apps of the Git providers' "oauth" method (client secrets: never logged or shown). GitLab has one
# application per instance: GITLAB_OAUTH_APPS is JSON {"https://gitlab.com": {"client_id": ..., "client_secret": ...}}.
GITHUB_OAUTH_CLIENT_ID = env.str("GITHUB_OAUTH_CLIENT_ID", default="")
GITHUB_OAUTH_CLIENT_SECRET = env.str("GITHUB_OAUTH_CLIENT_SECRET", default="")
GITLAB_OAUTH_APPS = env.json("GITLAB_OAUTH_APPS", default={})
# Expiring OAuth tokens are refreshed when they have less than this many seconds left; beat looks this often.
OAUTH_REFRESH_MARGIN_SECONDS = env.int("OAUTH_REFRESH_MARGIN_SECONDS", default=900)
OAUTH_REFRESH_INTERVAL_SECONDS = env.int("OAUTH_REFRESH_INTERVAL_SECONDS", default=300)
CELERY_BEAT_SCHEDULE["connection-oauth-refresh"] = {
    "task": "connections.tasks.refresh_oauth_tokens",
    "schedule": OAUTH_REFRESH_INTERVAL_SECONDS,
    "options": {"expires": OAUTH_REFRESH_INTERVAL_SECONDS},
}
# A refused request is audited at most once per actor, method and path in this many seconds.
PERMISSION_DENIED_AUDIT_SECONDS = env.int("PERMISSION_DENIED_AUDIT_SECONDS", default=60)
# Invitations to join an organization: how long the mailed link works.
INVITATION_EXPIRY_DAYS = env.int("INVITATION_EXPIRY_DAYS", default=7)
# --- FinOps: cost sync per cloud connection, budgets and anomaly alerts (finops app)
# The daily sync of every cloud connection's costs runs at this hour (UTC); it also evaluates budgets and anomalies.
FINOPS_SYNC_HOUR_UTC = env.int("FINOPS_SYNC_HOUR_UTC", default=4)
# A connection's first sync reads this many days back; later syncs start at the last synced day.
FINOPS_INITIAL_SYNC_DAYS = env.int("FINOPS_INITIAL_SYNC_DAYS", default=90)
# The longest range one sync or backfill may ask for (days).
FINOPS_MAX_SYNC_DAYS = env.int("FINOPS_MAX_SYNC_DAYS", default=400)
# Retries (with exponential backoff from FINOPS_RETRY_BACKOFF_SECONDS) when the cloud is unreachable or throttles.
FINOPS_SYNC_MAX_RETRIES = env.int("FINOPS_SYNC_MAX_RETRIES", default=3)
FINOPS_RETRY_BACKOFF_SECONDS = env.int("FINOPS_RETRY_BACKOFF_SECONDS", default=60)
# The cost-allocation tag whose value names an environment (AWS cost allocation tag, Azure/GCP label).
FINOPS_ENVIRONMENT_TAG = env.str("FINOPS_ENVIRONMENT_TAG", default="environment")
# The tag whose value names the Terraform project: runs set it (with the environment tag) as the provider's
# default tags, and cost rows carrying it are attributed to the project. Empty: no project attribution.
FINOPS_PROJECT_TAG = env.str("FINOPS_PROJECT_TAG", default="project")
# Anomaly: a day's cost of one service above mean + K standard deviations of the trailing baseline days,
# and at least the minimum amount (in the billing currency) so cents do not page anyone.
FINOPS_ANOMALY_BASELINE_DAYS = env.int("FINOPS_ANOMALY_BASELINE_DAYS", default=14)
FINOPS_ANOMALY_STDDEVS = env.float("FINOPS_ANOMALY_STDDEVS", default=3.0)
FINOPS_ANOMALY_MIN_COST = env.float("FINOPS_ANOMALY_MIN_COST", default=10.0)
# GCP: the BigQuery billing export table read by the cost sync (`project.dataset.table`), unless the
# connection's config names its own `billing_export_table`.
FINOPS_GCP_BILLING_TABLE = env.str("FINOPS_GCP_BILLING_TABLE", default="")
CELERY_BEAT_SCHEDULE["finops-daily-cost-sync"] = {
    "task": "finops.tasks.daily_cost_sync",
    "schedule": crontab(minute=0, hour=FINOPS_SYNC_HOUR_UTC),
    "options": {"expires": 6 * 3600},
}
# --- end FinOps
# Alerts when a connection starts failing: e-mail to the organization's admins, and/or a webhook.
ALERT_EMAILS_ENABLED = env.bool("ALERT_EMAILS_ENABLED", default=False)
ALERT_WEBHOOK_URL = env.str("ALERT_WEBHOOK_URL", default="")
# Where a webhook alert may go besides public addresses (e.g. an internal chat relay).
ALERT_WEBHOOK_ALLOWED_NETWORKS = env.list("ALERT_WEBHOOK_ALLOWED_NETWORKS", default=[])
# Seconds allowed for each call to the cloud while validating a connection role.
ROLE_VALIDATION_TIMEOUT = env.float("ROLE_VALIDATION_TIMEOUT", default=10.0)
# Platform endpoints providers declare (GitHub API, Entra ID, Google STS...), overridden per name with
# PROVIDER_ENDPOINT_<NAME>=<url> (tests point them at local fakes). Unset names use the real endpoints.
PROVIDER_ENDPOINTS = {
    key.removeprefix("PROVIDER_ENDPOINT_").lower(): value.rstrip("/")
    for key, value in os.environ.items()
    if key.startswith("PROVIDER_ENDPOINT_") and value
}
# SSRF guard: private networks outbound calls may reach besides an on-prem connection's own subnet.
NETGUARD_ALLOWED_NETWORKS = env.list("NETGUARD_ALLOWED_NETWORKS", default=[])
PLATFORM_AWS_ACCOUNT_ID = env.str("PLATFORM_AWS_ACCOUNT_ID", default="")
# Company CA certificates (PEM text or a file path) trusted for self-hosted GitLab/GHE/Proxmox/vCenter.
EXTRA_CA_DATA = env.str("EXTRA_CA_DATA", default="")
AZURE_CA_BUNDLE = env.str("AZURE_CA_BUNDLE", default="")
# --- Terraform projects and runs (projects app) ---
TERRAFORM_BIN = env.str("TERRAFORM_BIN", default="terraform")  # name on TERRAFORM_PATH or an absolute path
TERRAFORM_PATH = env.str("TERRAFORM_PATH", default="/usr/local/bin:/usr/bin:/bin")  # PATH inside a run
TERRAFORM_PLUGIN_MIRROR = env.str("TERRAFORM_PLUGIN_MIRROR", default="")  # filesystem mirror for providers
TERRAFORM_CLI_CONFIG_FILE = env.str("TERRAFORM_CLI_CONFIG_FILE", default="")  # passed as TF_CLI_CONFIG_FILE
TERRAFORM_EXTRA_ENV = env.dict("TERRAFORM_EXTRA_ENV", default={})  # NAME=value,... added to every run
# NAME=value,... added to every generated backend configuration (e.g. use_path_style=true for S3-compatible storage).
TERRAFORM_BACKEND_EXTRA_CONFIG = env.dict("TERRAFORM_BACKEND_EXTRA_CONFIG", default={})
TERRAFORM_RUN_TIMEOUT = env.int("TERRAFORM_RUN_TIMEOUT", default=3600)  # seconds
TERRAFORM_CANCEL_GRACE = env.float("TERRAFORM_CANCEL_GRACE", default=10.0)  # SIGTERM -> SIGKILL, seconds
TERRAFORM_WORK_DIR = env.str("TERRAFORM_WORK_DIR", default="")  # parent of run directories (default: tmp)
PROJECT_ARCHIVE_MAX_BYTES = env.int("PROJECT_ARCHIVE_MAX_BYTES", default=5 * 1024 * 1024)
GIT_BIN = env.str("GIT_BIN", default="git")
GIT_CLONE_TIMEOUT = env.float("GIT_CLONE_TIMEOUT", default=120.0)

# --- The platform as an OIDC issuer (identity app) ---
OIDC_ISSUER_URL = env.str("OIDC_ISSUER_URL", default="http://127.0.0.1:8000")
# How long a rotated-out signing key stays in the JWKS (seconds); must outlive assertions and JWKS caches.
OIDC_KEY_OVERLAP = timedelta(seconds=env.int("OIDC_KEY_OVERLAP", default=24 * 3600))
OIDC_KEY_SIZE = env.int("OIDC_KEY_SIZE", default=3072)  # RSA bits for new signing keys: 2048, 3072 or 4096
OIDC_DOCUMENT_MAX_AGE = env.int("OIDC_DOCUMENT_MAX_AGE", default=300)  # cache seconds for discovery and JWKS
OIDC_MAX_ASSERTION_LIFETIME = env.int("OIDC_MAX_ASSERTION_LIFETIME", default=3600)  # upper bound, seconds

# --- Credentials handed to runs (connections.run_credentials) ---
# Lifetime of the platform OIDC tokens written for a run (web identity, workload identity, federated);
# bounded by OIDC_MAX_ASSERTION_LIFETIME. Token files are rewritten this many seconds before they expire,
# and an assumed role's session is renewed when less than RUN_CREDENTIALS_REFRESH_MARGIN_SECONDS remain.
RUN_TOKEN_LIFETIME_SECONDS = env.int("RUN_TOKEN_LIFETIME_SECONDS", default=3600)
RUN_CREDENTIALS_REFRESH_MARGIN_SECONDS = env.int("RUN_CREDENTIALS_REFRESH_MARGIN_SECONDS", default=300)
# STS session length for an assumed role when the caller (the project) names none (900..43200).
RUN_SESSION_DURATION_SECONDS = env.int("RUN_SESSION_DURATION_SECONDS", default=3600)

# --- REST API ---
API_JSON_MAX_DEPTH = env.int("API_JSON_MAX_DEPTH", default=32)  # deepest JSON request body the API parses
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "accounts.authentication.APITokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PAGINATION_CLASS": "core.api.pagination.StandardPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_FILTER_BACKENDS": [
        "core.api.filters.FilterBackend",  # django-filter's, without the filterset when no filter is asked for
        "rest_framework.filters.OrderingFilter",
    ],
    # Error answers documented on every operation; operations grouped by resource with summaries.
    "DEFAULT_SCHEMA_CLASS": "core.api.schema.PlatformAutoSchema",
    "EXCEPTION_HANDLER": "core.api.errors.exception_handler",
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    # The API reads JSON only (other media types: 415); bodies nested deeper than API_JSON_MAX_DEPTH are a 400,
    # never a RecursionError (core/api/parsers.py).
    "DEFAULT_PARSER_CLASSES": ["core.api.parsers.BoundedJSONParser"],
    "DEFAULT_THROTTLE_RATES": {"token_create": env.str("TOKEN_CREATE_RATE", default="30/min")},
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
}
if DEBUG:
    REST_FRAMEWORK["DEFAULT_RENDERER_CLASSES"].append("rest_framework.renderers.BrowsableAPIRenderer")

SPECTACULAR_SETTINGS = {
    "TITLE": "Cloud Connections Platform API",
    "DESCRIPTION": "Connect cloud accounts once; authorize them per environment; never expose a secret.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "ENUM_NAME_OVERRIDES": {
        "Role": "accounts.choices.RoleChoices",
        "Plan": "accounts.choices.PlanChoices",
        "RoleStatus": "connections.choices.RoleStatusChoices",
        "ConnectionStatus": "connections.choices.ConnectionStatusChoices",
        "SyncKind": "finops.choices.SyncKindChoices",
        "BudgetAlertKind": "finops.choices.AlertKindChoices",
        "RunKind": "projects.choices.RunKind",
        "ProjectSourceKind": "projects.choices.SourceKind",
    },
    "SECURITY": [{"tokenAuth": []}],
    "TAGS": TAG_DESCRIPTIONS,
    "APPEND_COMPONENTS": {
        "securitySchemes": {"tokenAuth": {"type": "http", "scheme": "bearer", "description": "API token"}}
    },
}

# --- Logging: one root handler; secret masking filters attach to it. ---
LOG_LEVEL = env.str("LOG_LEVEL", default="INFO")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "filters": {"mask_secrets": {"()": "core.masking.SecretMaskingFilter"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain", "filters": ["mask_secrets"]}},
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    # SDK chatter (one INFO line per client) is noise at scale; their warnings still come through.
    "loggers": {
        "django.db.backends": {"level": "INFO"},
        **{name: {"level": "WARNING"} for name in ("botocore", "boto3", "urllib3", "azure", "msal", "google")},
    },
}

# --- Health ---
READYZ_BROKER_TIMEOUT = env.float("READYZ_BROKER_TIMEOUT", default=2.0)
