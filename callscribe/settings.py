"""callscribe settings: everything comes from the environment, with defaults that work on a laptop.

Production sets at least SECRET_KEY, DEBUG=0, ALLOWED_HOSTS and DATABASE_URL.
"""

import os
import secrets
from pathlib import Path

import dj_database_url
from csp.constants import NONE, SELF

BASE_DIR = Path(__file__).resolve().parent.parent


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    return int(value) if value not in (None, "") else default


def env_list(name: str, default: str) -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


DEBUG = env_bool("DEBUG", False)

DATA_DIR = Path(os.environ.get("DATA_DIR", BASE_DIR / "data"))
# The SQLite database, models and recordings live here by default; it must exist before use.
DATA_DIR.mkdir(parents=True, exist_ok=True)


def persistent_secret_key(path: Path) -> str:
    """A random key made once and kept in the data directory, so a self-hosted install is
    secure without setup. Several machines must share one: set SECRET_KEY on each."""
    try:
        with os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w") as out:
            out.write(secrets.token_urlsafe(50))
    except FileExistsError:
        pass
    return path.read_text().strip()


SECRET_KEY = os.environ.get("SECRET_KEY") or persistent_secret_key(DATA_DIR / "secret-key")

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", "")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django_htmx",
    "django_q",
    "axes",
    "csp",
    "rest_framework",
    "drf_spectacular",
    # Swagger UI's files served from here: the docs work offline and under a strict CSP.
    "drf_spectacular_sidecar",
    "transcripts",
    "api",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # Early, so that every page has the policy, the refusals of the middleware below included.
    "csp.middleware.CSPMiddleware",
    # Before anything reads the body: an oversized upload is refused from its headers.
    "transcripts.uploads.UploadLimitMiddleware",
    # gzip for pages, JSON and downloads, not where BREACH could use it (compression.py).
    "transcripts.compression.SafeGZipMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.auth.middleware.LoginRequiredMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    # Last, so that it sees the outcome of the login view (django-axes' rule).
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "callscribe.urls"
WSGI_APPLICATION = "callscribe.wsgi.application"

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
                "transcripts.context_processors.teams",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------------------------
# SQLite by default: one file under DATA_DIR, in WAL mode with a busy timeout, so the web
# processes and the workers can write at the same time without "database is locked".
DATABASES = {
    "default": dj_database_url.config(
        default=f"sqlite:///{DATA_DIR / 'callscribe.sqlite3'}",
        conn_max_age=env_int("DB_CONN_MAX_AGE", 60),
        conn_health_checks=True,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    DATABASES["default"]["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "timeout": 30,
        "init_command": (
            "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA busy_timeout=30000;"
        ),
    }
    # A file, not memory, so the worker processes that tests start see the test database.
    DATABASES["default"]["TEST"] = {"NAME": str(DATA_DIR / "test.sqlite3")}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Auth -----------------------------------------------------------------------------------
AUTHENTICATION_BACKENDS = [
    # django-axes first: it refuses a locked-out username/address before the password is checked.
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
    # The account's e-mail address, or its username in any case (transcripts/auth.py).
    "transcripts.auth.EmailOrUsernameBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "transcripts:call_list"
LOGOUT_REDIRECT_URL = "login"

# Who may start a team of their own from the portal (becoming its manager): "anyone" or "staff".
TEAM_CREATION = os.environ.get("TEAM_CREATION", "anyone")
if TEAM_CREATION not in {"anyone", "staff"}:
    raise ValueError('TEAM_CREATION must be "anyone" or "staff".')

# Invitations to a team, and password resets, are e-mailed; an invitation's links work this long.
INVITATION_DAYS = env_int("INVITATION_DAYS", 7)

# Login throttling: five wrong passwords for a username from one address lock it for 15 minutes.
AXES_FAILURE_LIMIT = env_int("AXES_FAILURE_LIMIT", 5)
AXES_COOLOFF_TIME = 0.25  # hours
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
# Failures count against the account, whether it was named by username or address, in any case.
AXES_USERNAME_CALLABLE = "transcripts.auth.axes_username"
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
AXES_ENABLED = env_bool("AXES_ENABLED", True)
# Whatever the username, one address may send this many login forms a minute (0: no limit).
# Counted in the "shared" cache below, so the web processes and machines count together.
LOGIN_RATE_LIMIT_PER_MINUTE = env_int("LOGIN_RATE_LIMIT_PER_MINUTE", 20)

CACHES = {
    "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
    # In the database, so every process sees one count; `migrate` creates the table.
    "shared": {
        "BACKEND": "django.core.cache.backends.db.DatabaseCache",
        "LOCATION": "callscribe_cache",
    },
}
# Not verbose: otherwise every management command and worker start logs "AXES: BEGIN ...".
AXES_VERBOSE = False

# --- Security -------------------------------------------------------------------------------
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SECURE = not DEBUG and env_bool("SECURE_COOKIES", True)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", False)
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = SECURE_HSTS_SECONDS > 0
SECURE_HSTS_PRELOAD = SECURE_HSTS_SECONDS > 0

# Behind proxies, every request comes from the last proxy's address; the client's is the entry
# the outermost trusted proxy appended to X-Forwarded-For, the TRUSTED_PROXY_COUNT-th from the
# right. Entries left of it are the client's own word and never used, so a forged entry cannot
# make one client count as another. django-axes reads the address through django-ipware, whose
# count leaves out the proxy that connects to gunicorn (it is REMOTE_ADDR, not in the header).
BEHIND_TLS_PROXY = env_bool("BEHIND_TLS_PROXY", False)
TRUSTED_PROXY_COUNT = env_int("TRUSTED_PROXY_COUNT", 1)
if BEHIND_TLS_PROXY:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    AXES_IPWARE_META_PRECEDENCE_ORDER = ("HTTP_X_FORWARDED_FOR", "REMOTE_ADDR")
    AXES_IPWARE_PROXY_COUNT = max(0, TRUSTED_PROXY_COUNT - 1)
else:
    AXES_IPWARE_META_PRECEDENCE_ORDER = ("REMOTE_ADDR",)
# Count proxies from the right and skip what the client wrote, instead of ignoring the header
# when the client added entries of its own (which would put every such client on one address).
IPWARE_STRICT = False

# Content-Security-Policy on every page (django-csp 4). Scripts and styles come only from this
# site's files: no inline <script>, no on...= handlers, no style="" attributes (static/js/app.js
# sets the charts' sizes). Recordings add a stricter policy of their own (transcripts.media).
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF],
        "media-src": [SELF],
        "connect-src": [SELF],
        "font-src": [SELF],
        "object-src": [NONE],
        "base-uri": [NONE],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    },
}

# --- E-mail (invitations and password resets) ------------------------------------------------
# The console backend prints messages to the web process's log: enough to try callscribe out.
# Production sets EMAIL_BACKEND=django.core.mail.backends.smtp.EmailBackend and the EMAIL_HOST_*.
EMAIL_BACKEND = os.environ.get("EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
EMAIL_HOST = os.environ.get("EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("EMAIL_PORT", 587)
EMAIL_HOST_USER = os.environ.get("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = os.environ.get("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", True)
EMAIL_TIMEOUT = env_int("EMAIL_TIMEOUT", 20)
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "callscribe <callscribe@localhost>")
SERVER_EMAIL = DEFAULT_FROM_EMAIL

# --- Internationalisation -------------------------------------------------------------------
LANGUAGE_CODE = "en-us"
TIME_ZONE = os.environ.get("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

# --- Files ----------------------------------------------------------------------------------
STATIC_URL = "static/"
STATIC_ROOT = Path(os.environ.get("STATIC_ROOT", BASE_DIR / "staticfiles"))
STATICFILES_DIRS = [BASE_DIR / "static"]
STATICFILES_MANIFEST = env_bool("STATICFILES_MANIFEST", not DEBUG)
# Recordings go to the local disk (MEDIA_ROOT) unless RECORDINGS_STORAGE=s3 names an
# S3-compatible store (AWS S3, MinIO, SeaweedFS, Ceph, R2), which lets transcription machines
# run without a shared disk. Both are described here so `move_recordings` can copy between them.
RECORDINGS_STORAGE = os.environ.get("RECORDINGS_STORAGE", "local").strip().lower()
S3_STORAGE_OPTIONS = {
    "bucket_name": os.environ.get("S3_BUCKET", ""),
    "endpoint_url": os.environ.get("S3_ENDPOINT_URL") or None,
    "access_key": os.environ.get("S3_ACCESS_KEY_ID") or None,
    "secret_key": os.environ.get("S3_SECRET_ACCESS_KEY") or None,
    "region_name": os.environ.get("S3_REGION") or None,
    # Every object under this prefix, so one bucket can serve several installs.
    "location": os.environ.get("S3_PREFIX", "").strip("/"),
    # Path-style URLs (bucket in the path) work with every S3-compatible server.
    "addressing_style": os.environ.get("S3_ADDRESSING_STYLE", "path"),
    "signature_version": "s3v4",
    # Private objects: no ACL granting public reads, and URLs only ever presigned.
    "default_acl": None,
    "querystring_auth": True,
    "querystring_expire": env_int("S3_PRESIGNED_SECONDS", 300),
    "file_overwrite": False,
}
RECORDINGS_BACKENDS = {
    "local": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "s3": {"BACKEND": "storages.backends.s3.S3Storage", "OPTIONS": S3_STORAGE_OPTIONS},
}
if RECORDINGS_STORAGE not in RECORDINGS_BACKENDS:
    raise ValueError(f"RECORDINGS_STORAGE must be local or s3, not {RECORDINGS_STORAGE!r}")
# The audio view redirects the player to a presigned URL (valid S3_PRESIGNED_SECONDS) instead of
# streaming the object through the web process; only with RECORDINGS_STORAGE=s3.
AUDIO_PRESIGNED_REDIRECT = env_bool("AUDIO_PRESIGNED_REDIRECT", False)
STORAGES = {
    # Audio is private: it is stored outside the static root and has no public URL. It is only
    # ever streamed by a view that checks the caller's team (transcripts.views.call_audio).
    "default": RECORDINGS_BACKENDS[RECORDINGS_STORAGE],
    # Hashed names let browsers cache static files for ever; they need `collectstatic` first.
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if STATICFILES_MANIFEST
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}
# Without collected files, whitenoise serves them straight from the source folders.
WHITENOISE_USE_FINDERS = not STATICFILES_MANIFEST
MEDIA_ROOT = Path(os.environ.get("MEDIA_ROOT", DATA_DIR / "media"))
MEDIA_URL = None

# Uploads larger than this are refused while they stream in, before they fill memory or disk.
MAX_UPLOAD_MB = env_int("MAX_UPLOAD_MB", 1024)
MAX_UPLOAD_BYTES = MAX_UPLOAD_MB * 1024 * 1024
# Calls longer than this are refused: they would hold a worker for too long.
MAX_AUDIO_HOURS = float(os.environ.get("MAX_AUDIO_HOURS", "4"))
# Recordings are read in a child process killed past these limits: the upload's check reads
# the first frames (a hostile file can stall FFmpeg or ask it for gigabytes), and the worker
# decodes a whole call (4 hours took 30-80 s here). See docs/deployment.md, "Hostile recordings".
PROBE_TIMEOUT_SECONDS = env_int("PROBE_TIMEOUT_SECONDS", 15)
DECODE_TIMEOUT_SECONDS = env_int("DECODE_TIMEOUT_SECONDS", 600)
DECODE_MEMORY_MB = env_int("DECODE_MEMORY_MB", 512)
# One person cannot fill the team's queue.
MAX_QUEUED_CALLS_PER_USER = env_int("MAX_QUEUED_CALLS_PER_USER", 50)
# Every call's analytics search for every phrase of its team's trackers, and for edited lines;
# these bound that work (100 trackers of 100 phrases once made a call page take 112 s).
MAX_TRACKERS_PER_TEAM = env_int("MAX_TRACKERS_PER_TEAM", 25)
MAX_TRACKER_PHRASES = env_int("MAX_TRACKER_PHRASES", 100)
MAX_TRACKER_PHRASE_CHARS = env_int("MAX_TRACKER_PHRASE_CHARS", 100)
# A corrected transcript line; Whisper's own lines are a few hundred characters at most.
MAX_LINE_CHARS = env_int("MAX_LINE_CHARS", 2000)
FILE_UPLOAD_HANDLERS = [
    "transcripts.uploads.LimitedUploadHandler",
    "django.core.files.uploadhandler.MemoryFileUploadHandler",
    "django.core.files.uploadhandler.TemporaryFileUploadHandler",
]
# Uploaded files are streamed to disk past this size rather than held in memory.
FILE_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024
FILE_UPLOAD_TEMP_DIR = os.environ.get("FILE_UPLOAD_TEMP_DIR") or None
# Each transcription worker downloads recordings into its own folder under this one; a worker
# that starts empties the folders of workers that died (transcripts.storage).
WORKER_TEMP_DIR = Path(os.environ.get("WORKER_TEMP_DIR", DATA_DIR / "tmp" / "workers"))
FILE_UPLOAD_PERMISSIONS = 0o640

# --- Transcription --------------------------------------------------------------------------
WHISPER_MODEL = os.environ.get("WHISPER_MODEL", "tiny.en")
# auto: CUDA (float16) when a GPU is present, else the CPU (int8 with faster-whisper, float32
# with openai-whisper).
WHISPER_DEVICE = os.environ.get("WHISPER_DEVICE", "auto")
WHISPER_ENGINE = os.environ.get("WHISPER_ENGINE", "auto")
# What "Accurate" transcribes with (a team's setting, or chosen per upload); "Fast" is
# WHISPER_MODEL. Only weights installed here are used: nothing is downloaded while a call waits.
WHISPER_ACCURATE_MODEL = os.environ.get("WHISPER_ACCURATE_MODEL", "base")
# A Fast call's lines the model was unsure of are decoded again by the Accurate model, where its
# weights are installed, within a budget (transcripts/speech/second_pass.py).
WHISPER_SECOND_PASS = env_bool("WHISPER_SECOND_PASS", True)
# Off: the second pass runs on phone-line (8 kHz) audio only, where tiny.en is unsure most; on
# wide-band calls it cost 30-80% more CPU time and deleted words (docs/benchmarks.md).
WHISPER_SECOND_PASS_WIDE_BAND = env_bool("WHISPER_SECOND_PASS_WIDE_BAND", False)
# 0: each engine's measured default (faster-whisper beam 5, openai-whisper greedy).
WHISPER_BEAM_SIZE = env_int("WHISPER_BEAM_SIZE", 0)
WHISPER_LANGUAGE = os.environ.get("WHISPER_LANGUAGE", "") or None
WHISPER_INITIAL_PROMPT = os.environ.get("WHISPER_INITIAL_PROMPT", "") or None
WHISPER_WORD_TIMESTAMPS = env_bool("WHISPER_WORD_TIMESTAMPS", False)
WHISPER_VAD = env_bool("WHISPER_VAD", True)
WHISPER_CONDITION_ON_PREVIOUS_TEXT = env_bool("WHISPER_CONDITION_ON_PREVIOUS_TEXT", False)
WHISPER_TEMPERATURE_FALLBACK = env_bool("WHISPER_TEMPERATURE_FALLBACK", True)
# 0: 4 on a CPU (as fast as 8, 270 MB less on a 20-minute call), 16 on a GPU.
WHISPER_BATCH_SIZE = env_int("WHISPER_BATCH_SIZE", 0)
# Threads each worker gives to the model; 0 means the cores divided among the workers.
WHISPER_THREADS = env_int("WHISPER_THREADS", 0)
# Where converted openai-whisper checkpoints (and downloaded ones) live.
WHISPER_MODEL_DIR = Path(os.environ.get("WHISPER_MODEL_DIR", DATA_DIR / "models"))
# The OpenAI transcription API: opt-in only, because audio then leaves this server.
OPENAI_API_KEY = os.environ.get("OPENAI_API_KEY", "")
OPENAI_API_BASE = os.environ.get("OPENAI_API_BASE", "https://api.openai.com/v1")
OPENAI_API_MODEL = os.environ.get("OPENAI_API_MODEL", "whisper-1")

# --- Workers (Django-Q2, ORM broker) ----------------------------------------------------------
# One single-thread worker per core: with several calls queued that transcribed 57% more audio
# per hour than one worker using every core, for 17% longer on a lone call (benchmarks.md).
# Each worker holds its model and a call's audio: about 1.2 GB for a 20-minute call.
Q_WORKERS = env_int("Q_WORKERS", min(os.cpu_count() or 1, 4))
# A task runs at most this long. Long calls are bounded by MAX_AUDIO_HOURS, and the slowest
# engine here transcribes faster than real time, so a job never needs more than that length.
Q_TIMEOUT = env_int("Q_TIMEOUT", int(MAX_AUDIO_HOURS * 3600))
# A worker renews its lease on a call at every progress report and segment; a lease not
# renewed for this long means the worker died, and the reaper hands the call to another.
CALL_LEASE_SECONDS = env_int("CALL_LEASE_SECONDS", 120)
# Audio is transcribed in windows of this many seconds (0: the engine's default, 5-10 min).
# A worker that dies loses at most the window it was in.
WHISPER_WINDOW_SECONDS = env_int("WHISPER_WINDOW_SECONDS", 0)
# Transcription runs at this lower CPU priority (nice), so web requests win the cores.
WORKER_NICENESS = env_int("WORKER_NICENESS", 10)
# A call whose worker died this many times (killed, out of memory) fails instead of retrying.
MAX_TRANSCRIPTION_ATTEMPTS = env_int("MAX_TRANSCRIPTION_ATTEMPTS", 3)
Q_CLUSTER = {
    "name": os.environ.get("Q_CLUSTER_NAME", "callscribe"),
    "orm": "default",
    "workers": Q_WORKERS,
    "timeout": Q_TIMEOUT,
    # The broker re-delivers a claimed task after `retry` seconds, counted from the claim and
    # including time spent in the cluster's own queue. It must be above the timeout, or a long
    # job runs twice; the Call lease (transcripts.models.Call.claim) guards that as well.
    "retry": Q_TIMEOUT + 600,
    # Claim only as many tasks as there are workers, so one cluster does not hoard the queue
    # while another one idles.
    "queue_limit": Q_WORKERS,
    "max_attempts": 3,
    "poll": 0.5,
    "catch_up": False,
    "save_limit": 1000,
    "ack_failures": True,
    "label": "Django Q2",
}

# --- The API, webhooks and notices ---------------------------------------------------------------
# Where people reach the portal: links in webhooks and e-mails are made from it.
SITE_URL = os.environ.get("SITE_URL", "http://localhost:8000")
# Tokens that work, per person (revoked and expired ones do not count).
API_TOKENS_PER_PERSON = env_int("API_TOKENS_PER_PERSON", 50)
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["api.authentication.BearerTokenAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_THROTTLE_CLASSES": ["api.authentication.TokenRateThrottle"],
    "DEFAULT_THROTTLE_RATES": {"token": os.environ.get("API_THROTTLE_RATE", "600/minute")},
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": [
        "api.parsers.JSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "callscribe API",
    "DESCRIPTION": "Calls in, transcripts and insights out. Authenticate with a personal token "
    "(Authorization: Bearer <token>), made on your profile page.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_AUTHENTICATION": [],
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "ENUM_NAME_OVERRIDES": {
        "ChannelEnum": "transcripts.models.Channel",
        "WebhookEventEnum": "api.models.Event",
    },
}
# Recordings imported by URL, and webhooks, never go to private, loopback or link-local
# addresses (server-side request forgery), except to networks named here ("10.0.0.0/8,...").
OUTBOUND_ALLOWED_NETWORKS = env_list("OUTBOUND_ALLOWED_NETWORKS", "")
URL_IMPORT_TIMEOUT_SECONDS = env_int("URL_IMPORT_TIMEOUT_SECONDS", 600)
URL_IMPORT_MAX_REDIRECTS = env_int("URL_IMPORT_MAX_REDIRECTS", 5)
# A receiver has this long to answer; failed deliveries are tried again after 30 s, 1 min,
# 2 min... up to WEBHOOK_MAX_ATTEMPTS tries in all (about 4 hours with the defaults).
WEBHOOK_TIMEOUT_SECONDS = env_int("WEBHOOK_TIMEOUT_SECONDS", 5)
WEBHOOK_RETRY_BASE_SECONDS = env_int("WEBHOOK_RETRY_BASE_SECONDS", 30)
WEBHOOK_MAX_ATTEMPTS = env_int("WEBHOOK_MAX_ATTEMPTS", 10)
# E-mail notices (the uploader's, when a call is done or failed) use the e-mail settings above.

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}
