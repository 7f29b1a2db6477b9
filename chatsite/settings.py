"""All configuration comes from the environment, read here and nowhere else."""

import ipaddress
from datetime import timedelta
from pathlib import Path

import environ
from csp.constants import NONE, SELF
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
if (BASE_DIR / ".env").is_file():  # read_env logs a non-JSON "not found" line before logging is set up
    environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

DEBUG = env.bool("DEBUG", default=False)

SECRET_KEY = env.str("SECRET_KEY", default="")
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=[])
if DEBUG:
    SECRET_KEY = SECRET_KEY or "insecure-development-key-only-for-debug"
    ALLOWED_HOSTS = ALLOWED_HOSTS or ["localhost", "127.0.0.1", "[::1]"]
else:
    if not SECRET_KEY:
        raise ImproperlyConfigured("SECRET_KEY must be set when DEBUG is off (see .env.example).")
    if not ALLOWED_HOSTS:
        raise ImproperlyConfigured("ALLOWED_HOSTS must be set when DEBUG is off (see .env.example).")
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "channels",
    "corsheaders",
    "ninja",
    "csp",
    "axes",
    "chat",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # CORS for /api/ only (CORS_URLS_REGEX), before anything that may answer; then problem+json for API errors.
    "corsheaders.middleware.CorsMiddleware",
    "chat.api.middleware.ProblemMiddleware",
    # An id per request for its log lines (chat/logcontext.py), echoed as X-Request-ID.
    "chat.logcontext.RequestIdMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.auth.middleware.LoginRequiredMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    # Last, as django-axes asks: it turns a locked-out login into its lockout response.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "chatsite.urls"
ASGI_APPLICATION = "chatsite.asgi.application"

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
            ],
        },
    },
]

DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}")}
# Connections are reused: with Django's default of 0, every ORM hop from async code opened a new
# PostgreSQL connection (about 200 per reply). DATABASE_POOL=true uses psycopg's pool instead.
DATABASES["default"]["CONN_MAX_AGE"] = env.int("DATABASE_CONN_MAX_AGE", default=600)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
if env.bool("DATABASE_POOL", default=False):
    if DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql":
        raise ImproperlyConfigured("DATABASE_POOL needs a PostgreSQL DATABASE_URL.")
    DATABASES["default"]["CONN_MAX_AGE"] = 0  # the pool owns the connections
    DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
        "min_size": env.int("DATABASE_POOL_MIN", default=2), "max_size": env.int("DATABASE_POOL_MAX", default=10),
    }
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    SQLITE_SYNCHRONOUS = env.str("SQLITE_SYNCHRONOUS", default="NORMAL").upper()
    if SQLITE_SYNCHRONOUS not in {"NORMAL", "FULL", "EXTRA"}:
        raise ImproperlyConfigured(f"SQLITE_SYNCHRONOUS must be NORMAL, FULL or EXTRA, not {SQLITE_SYNCHRONOUS!r}")
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "timeout": 20,
            "transaction_mode": "IMMEDIATE",
            # WAL with synchronous=NORMAL: a commit does not wait for an fsync (the checkpoint does). A power
            # cut may lose the last commits, never the file's integrity. SQLITE_SYNCHRONOUS=FULL for the other.
            "init_command": f"PRAGMA journal_mode=WAL; PRAGMA synchronous={SQLITE_SYNCHRONOUS};",
        }
    )
    DATABASES["default"]["TEST"] = {"NAME": env.str("SQLITE_TEST_NAME", default=str(BASE_DIR / "test-db.sqlite3"))}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = env.str("REDIS_URL", default="")
# Messages one socket's channel may hold before the layer drops more (the default 100-1,000
# overflowed at ~50 concurrent replies); a socket that misses reply text resyncs it.
CHANNEL_CAPACITY = env.int("CHANNEL_CAPACITY", default=10000)
if REDIS_URL:
    CHANNEL_LAYERS = {
        # Sockets' queues and groups in the process, Redis only between processes (chat/layers/redis.py)
        "default": {
            "BACKEND": "chat.layers.RedisChannelLayer",
            "CONFIG": {
                "url": REDIS_URL,
                "prefix": env.str("CHANNELS_PREFIX", default="chatsite"),
                "capacity": CHANNEL_CAPACITY,
                "socket_timeout": env.float("REDIS_SOCKET_TIMEOUT_SECONDS", default=5.0),
            },
        }
    }
else:
    CHANNEL_LAYERS = {
        # channels' in-memory layer without its per-receive expiry scan and per-send deep copy (chat/layers/memory.py)
        "default": {"BACKEND": "chat.layers.InMemoryChannelLayer", "CONFIG": {"capacity": CHANNEL_CAPACITY}}
    }

# Shared state of the rate limits (chat/ratelimit.py): Redis when REDIS_URL is set, else a database
# table that every `manage.py migrate` creates (chat/apps.py runs createcachetable after it).
CACHE_KEY_PREFIX = env.str("CACHE_KEY_PREFIX", default=env.str("CHANNELS_PREFIX", default="chatsite"))
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": CACHE_KEY_PREFIX,
        }
    }
else:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.db.DatabaseCache",
            "LOCATION": "chat_cache",
            "KEY_PREFIX": CACHE_KEY_PREFIX,
        }
    }

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "chat:index"
LOGOUT_REDIRECT_URL = "login"

# Login throttling (django-axes): after AXES_FAILURE_LIMIT failed logins for one username from one
# address, that combination is locked out for AXES_COOLOFF_MINUTES; a success resets the count.
AUTHENTICATION_BACKENDS = ["axes.backends.AxesStandaloneBackend", "django.contrib.auth.backends.ModelBackend"]
AXES_FAILURE_LIMIT = env.int("AXES_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = timedelta(minutes=env.float("AXES_COOLOFF_MINUTES", default=15))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_CALLABLE = "chat.views.login_locked_out"
# Behind a proxy, the address axes sees is the proxy's unless it is told how many proxies to trust.
AXES_IPWARE_PROXY_COUNT = env.int("AXES_IPWARE_PROXY_COUNT", default=0) or None

# Scripts, styles and images only from this site; inline data only as json_script (not executed).
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF, "data:"],
        "connect-src": [SELF],
        "object-src": [NONE],
        "base-uri": [NONE],
        "frame-ancestors": [NONE],
        "form-action": [SELF],
    }
}

# The HTTP API (docs/api.md). Writes per person per minute, over every process (the cache above).
API_RATE_LIMIT_PER_MINUTE = env.int("API_RATE_LIMIT_PER_MINUTE", default=60)
# Request bodies over this many bytes are refused (413); message text is bounded by CHAT_MAX_MESSAGE_CHARS.
DATA_UPLOAD_MAX_MEMORY_SIZE = env.int("DATA_UPLOAD_MAX_MEMORY_SIZE", default=256 * 1024)
# Cross-origin browser calls to /api/ only, from these origins (none by default). Scripts on other sites
# use a Bearer token; cookies are never sent cross-origin (no credentials).
CORS_ALLOWED_ORIGINS = env.list("CORS_ALLOWED_ORIGINS", default=[])
CORS_URLS_REGEX = r"^/api/.*$"
CORS_ALLOW_CREDENTIALS = False
CORS_ALLOW_HEADERS = ["accept", "authorization", "content-type", "idempotency-key"]
CORS_EXPOSE_HEADERS = ["retry-after"]
NINJA_PAGINATION_MAX_LIMIT = 200

# HTTPS=true when the site is served over HTTPS (directly or behind a TLS proxy).
HTTPS = env.bool("HTTPS", default=False)
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=not DEBUG and HTTPS)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31536000 if HTTPS else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=False)
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=False)
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=False)
# Probes and scrapers often come over plain HTTP from inside the network: answer them rather than redirect.
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$", r"^metrics$"]
if env.bool("TRUST_X_FORWARDED_PROTO", default=False):
    # Only behind a proxy that sets this header itself: HSTS and secure redirects need is_secure().
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
# Daphne serves static files itself when this is on (development, the e2e suite); else a proxy does.
SERVE_STATIC = env.bool("SERVE_STATIC", default=DEBUG)
# HTTP requests' synchronous work (the ORM, sync views, password hashing) runs on this many long-lived threads
# per process, each keeping its database connection (chatsite/http_threads.py); Django's default was a new
# thread, and so a new connection, for every request.
HTTP_THREADS = env.int("HTTP_THREADS", default=4)
if HTTP_THREADS < 1:
    raise ImproperlyConfigured(f"HTTP_THREADS must be at least 1, not {HTTP_THREADS}.")

# One line per event with the conversation, turn and request ids where they apply (chat/logcontext.py);
# LOG_FORMAT=json for JSON lines. Exception messages only with LOG_MESSAGE_TEXT=true (they may quote messages).
LOG_FORMAT = env.str("LOG_FORMAT", default="text").lower()
if LOG_FORMAT not in {"text", "json"}:
    raise ImproperlyConfigured(f"LOG_FORMAT must be text or json, not {LOG_FORMAT!r}")
LOG_MESSAGE_TEXT = env.bool("LOG_MESSAGE_TEXT", default=False)
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"context": {"()": "chat.logcontext.ContextFilter"}},
    "formatters": {
        "text": {
            "()": "chat.logcontext.TextFormatter", "fmt": "%(asctime)s %(levelname)s %(name)s %(context)s%(message)s",
            "message_text": LOG_MESSAGE_TEXT,
        },
        "json": {"()": "chat.logcontext.JsonFormatter", "message_text": LOG_MESSAGE_TEXT},
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "filters": ["context"], "formatter": LOG_FORMAT}},
    # The one handler sits on the root logger, so every record is written once, in this format. Otherwise
    # daphne's own root handler (logging.basicConfig at start-up) wrote each `chat` line a second time in its
    # format, and the MCP SDK's servers (MCPServer() calls basicConfig) added a Rich handler where the root
    # had none: with LOG_FORMAT=json half the lines were not JSON.
    "root": {"handlers": ["console"], "level": "WARNING"},
    "loggers": {
        "chat": {"level": env.str("LOG_LEVEL", default="INFO")},
        "daphne": {"level": "INFO"},  # "Listening on TCP address ...", as daphne shows by default
        "django": {"handlers": [], "level": "INFO"},  # Django's own console handler would write DEBUG runs twice
    },
}

# Chat limits and behaviour.
CHAT_MAX_MESSAGE_CHARS = env.int("CHAT_MAX_MESSAGE_CHARS", default=8000)
CHAT_MAX_FRAME_BYTES = env.int("CHAT_MAX_FRAME_BYTES", default=64 * 1024)
CHAT_MAX_TOOL_ROUNDS = env.int("CHAT_MAX_TOOL_ROUNDS", default=8)
# While the event loop lags, a reply holds each delta back (twice the lag, at most this) to merge the
# text that follows: fewer frames when the process is behind, and none held while it keeps up.
CHAT_DELTA_MAX_MERGE_SECONDS = env.float("CHAT_DELTA_MAX_MERGE_SECONDS", default=0.25)
# A replay (conversation.open, history.before) sends the newest messages first, at most this many
# and about this much text; older ones come a page at a time as the person scrolls up.
CHAT_REPLAY_MESSAGES = env.int("CHAT_REPLAY_MESSAGES", default=200)
CHAT_REPLAY_MAX_CHARS = env.int("CHAT_REPLAY_MAX_CHARS", default=500_000)
CHAT_REPLAYS_PER_MINUTE = env.int("CHAT_REPLAYS_PER_MINUTE", default=60)
# A replay waits while more than this many bytes sent to the socket are still unsent (the page is not
# reading), and closes the socket (4408) when they stay over for this long (chat/backpressure.py).
CHAT_SEND_BUFFER_BYTES = env.int("CHAT_SEND_BUFFER_BYTES", default=1_048_576)
CHAT_SEND_BUFFER_WAIT_SECONDS = env.float("CHAT_SEND_BUFFER_WAIT_SECONDS", default=30.0)
CHAT_SAVE_INTERVAL_SECONDS = env.float("CHAT_SAVE_INTERVAL_SECONDS", default=0.25)
# What the model is sent of a conversation: the newest messages, at most this many and about this much text.
CHAT_HISTORY_MAX_MESSAGES = env.int("CHAT_HISTORY_MAX_MESSAGES", default=400)
CHAT_HISTORY_MAX_CHARS = env.int("CHAT_HISTORY_MAX_CHARS", default=200_000)
# A running turn holds a lease on its conversation and renews it every third of this; a lease
# left to expire (the process died) marks the reply interrupted and frees the conversation.
CHAT_TURN_LEASE_SECONDS = env.float("CHAT_TURN_LEASE_SECONDS", default=30.0)
CHAT_TURN_SWEEP_SECONDS = env.float("CHAT_TURN_SWEEP_SECONDS", default=15.0)
# On SIGTERM running turns are stopped (stored as stopped) and MCP sessions closed within this.
CHAT_SHUTDOWN_SECONDS = env.float("CHAT_SHUTDOWN_SECONDS", default=2.5)
# Per person, across all their sockets and every process (chat/ratelimit.py).
CHAT_RATE_LIMIT_MESSAGES = env.int("CHAT_RATE_LIMIT_MESSAGES", default=20)
CHAT_RATE_LIMIT_WINDOW_SECONDS = env.float("CHAT_RATE_LIMIT_WINDOW_SECONDS", default=60.0)
CHAT_MAX_SOCKETS_PER_PERSON = env.int("CHAT_MAX_SOCKETS_PER_PERSON", default=20)
# Replies being written at once for one person, in all their conversations, on every process (the database counts leases).
CHAT_MAX_CONCURRENT_REPLIES = env.int("CHAT_MAX_CONCURRENT_REPLIES", default=5)
# A socket re-checks its session this often (expiry, password change); logout closes it at once.
CHAT_SESSION_RECHECK_SECONDS = env.float("CHAT_SESSION_RECHECK_SECONDS", default=60.0)
# A socket's lease on one of its person's socket slots; renewed at every re-check, so it only lapses
# when a process died without closing its sockets.
CHAT_SOCKET_LEASE_SECONDS = env.float("CHAT_SOCKET_LEASE_SECONDS", default=3 * CHAT_SESSION_RECHECK_SECONDS)
CHAT_CALCULATOR_TIMEOUT_SECONDS = env.float("CHAT_CALCULATOR_TIMEOUT_SECONDS", default=2.0)
DEMO_TOKEN_DELAY_SECONDS = env.float("DEMO_TOKEN_DELAY_SECONDS", default=0.03)
CHAT_SYSTEM_PROMPT = env.str(
    "CHAT_SYSTEM_PROMPT",
    default="You are a helpful assistant. Use the tools you are given when they help answer.",
)
# Conversations with personas (docs/architecture.md, "Personas and multi-AI conversations"): at most this
# many AI participants in one conversation, and at most this many rounds of discussion per message.
CHAT_MAX_PARTICIPANTS = env.int("CHAT_MAX_PARTICIPANTS", default=4)
CHAT_MAX_DISCUSSION_ROUNDS = env.int("CHAT_MAX_DISCUSSION_ROUNDS", default=5)
if CHAT_MAX_PARTICIPANTS < 1 or CHAT_MAX_DISCUSSION_ROUNDS < 1:
    raise ImproperlyConfigured("CHAT_MAX_PARTICIPANTS and CHAT_MAX_DISCUSSION_ROUNDS must be at least 1.")

# The SSE stream of a conversation (GET /api/v1/conversations/{id}/events, chat/sse.py): a keep-alive
# comment after this long without a frame, and the stream ends after SSE_MAX_SECONDS (clients resume).
SSE_KEEPALIVE_SECONDS = env.float("SSE_KEEPALIVE_SECONDS", default=15.0)
SSE_MAX_SECONDS = env.float("SSE_MAX_SECONDS", default=600.0)
if not (SSE_KEEPALIVE_SECONDS > 0 and SSE_MAX_SECONDS > 0):
    raise ImproperlyConfigured("SSE_KEEPALIVE_SECONDS and SSE_MAX_SECONDS must be positive numbers of seconds.")

# Documents (docs/documents.md): uploads are kept through Django's storage API, under MEDIA_ROOT by default
# (outside the static tree, never served at a public URL: downloads go through a view that checks the owner).
# DOCUMENTS_STORAGE_BACKEND and DOCUMENTS_STORAGE_OPTIONS (JSON) select another storage, such as S3.
MEDIA_ROOT = env.path("MEDIA_ROOT", default=BASE_DIR / "media")
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    "documents": {
        "BACKEND": env.str("DOCUMENTS_STORAGE_BACKEND", default="django.core.files.storage.FileSystemStorage"),
        "OPTIONS": env.json("DOCUMENTS_STORAGE_OPTIONS", default={}),
    },
}
DOCUMENTS_ENABLED = env.bool("DOCUMENTS_ENABLED", default=True)
DOCUMENTS_MAX_FILE_BYTES = env.int("DOCUMENTS_MAX_FILE_BYTES", default=10 * 1024 * 1024)
DOCUMENTS_MAX_TOTAL_BYTES = env.int("DOCUMENTS_MAX_TOTAL_BYTES", default=100 * 1024 * 1024)
DOCUMENTS_MAX_PAGES = env.int("DOCUMENTS_MAX_PAGES", default=1000)
DOCUMENTS_MAX_TEXT_CHARS = env.int("DOCUMENTS_MAX_TEXT_CHARS", default=2_000_000)
DOCUMENTS_EXTRACT_TIMEOUT_SECONDS = env.float("DOCUMENTS_EXTRACT_TIMEOUT_SECONDS", default=30.0)
DOCUMENTS_PER_CONVERSATION = env.int("DOCUMENTS_PER_CONVERSATION", default=10)
# Quote mode: at most this many characters of the documents go into the model's context (a note says where it was cut).
DOCUMENTS_QUOTE_BUDGET_CHARS = env.int("DOCUMENTS_QUOTE_BUDGET_CHARS", default=24_000)
# Research mode: passages the search tool returns per call.
DOCUMENTS_SEARCH_RESULTS = env.int("DOCUMENTS_SEARCH_RESULTS", default=5)
for _name in ("DOCUMENTS_MAX_FILE_BYTES", "DOCUMENTS_MAX_TOTAL_BYTES", "DOCUMENTS_MAX_PAGES", "DOCUMENTS_MAX_TEXT_CHARS",
              "DOCUMENTS_PER_CONVERSATION", "DOCUMENTS_QUOTE_BUDGET_CHARS", "DOCUMENTS_SEARCH_RESULTS"):
    if globals()[_name] < 1:
        raise ImproperlyConfigured(f"{_name} must be at least 1.")

# /readyz (chat/health.py): each check (database, channel layer, each MCP server) gets this long, all at once.
READY_CHECK_SECONDS = env.float("READY_CHECK_SECONDS", default=2.0)
if not READY_CHECK_SECONDS > 0:
    raise ImproperlyConfigured("READY_CHECK_SECONDS must be a positive number of seconds.")

# /metrics (chat/metrics_view.py, docs/operations.md): each configured check must pass; with neither, 404.
METRICS_TOKEN = env.str("METRICS_TOKEN", default="")
METRICS_ALLOW_FROM = env.list("METRICS_ALLOW_FROM", default=[])
for _entry in METRICS_ALLOW_FROM:
    try:
        ipaddress.ip_network(_entry.strip(), strict=False)
    except ValueError:
        raise ImproperlyConfigured(f"METRICS_ALLOW_FROM: {_entry!r} is not an address or network (10.0.0.0/8, ::1)") from None
# Several server processes: each writes its metrics here and a scrape of any one sums them. It must be in
# the processes' environment before they start (prometheus_client reads it when it loads); chat/apps.py checks.
PROMETHEUS_MULTIPROC_DIR = env.str("PROMETHEUS_MULTIPROC_DIR", default="")

# LLM providers (docs/configuration.md). Empty means the offline demo model.
LLM_PROVIDERS = env.str("LLM_PROVIDERS", default="")
LLM_PROVIDERS_FILE = env.str("LLM_PROVIDERS_FILE", default="")

# MCP servers in the standard mcpServers JSON (docs/tools.md).
MCP_SERVERS_FILE = env.str("MCP_SERVERS_FILE", default="")
MCP_BUILTIN_ENABLED = env.bool("MCP_BUILTIN_ENABLED", default=True)
MCP_CALL_TIMEOUT_SECONDS = env.float("MCP_CALL_TIMEOUT_SECONDS", default=30.0)
MCP_CONFIRM_TIMEOUT_SECONDS = env.float("MCP_CONFIRM_TIMEOUT_SECONDS", default=120.0)
MCP_MAX_RESULT_CHARS = env.int("MCP_MAX_RESULT_CHARS", default=20000)
# Listing tools is bounded separately (it happens at the start of every turn); a server that failed
# is not asked again for this long, except when the model calls one of its tools.
MCP_LIST_TIMEOUT_SECONDS = env.float("MCP_LIST_TIMEOUT_SECONDS", default=10.0)
MCP_RETRY_AFTER_SECONDS = env.float("MCP_RETRY_AFTER_SECONDS", default=30.0)

# Voice messages (docs/configuration.md "Voice"). Recordings and spoken replies are files in MEDIA_ROOT (above),
# outside the static tree and never served as such: only through chat/views.py `audio_file`, which checks the owner.
MEDIA_URL = "/media-not-served/"  # nothing is public: playback goes through the owner-checking view
# One recording: at most this much audio, this many bytes in all, and this many bytes per binary frame.
VOICE_MAX_SECONDS = env.float("VOICE_MAX_SECONDS", default=60.0)
VOICE_MAX_BYTES = env.int("VOICE_MAX_BYTES", default=4 * 1024 * 1024)
VOICE_MAX_CHUNK_BYTES = env.int("VOICE_MAX_CHUNK_BYTES", default=64 * 1024)
if not (VOICE_MAX_SECONDS > 0 and VOICE_MAX_BYTES > 0 and VOICE_MAX_CHUNK_BYTES > 0):
    raise ImproperlyConfigured("VOICE_MAX_SECONDS, VOICE_MAX_BYTES and VOICE_MAX_CHUNK_BYTES must be positive.")


def _speech_service(prefix: str, provider: str, model: str) -> tuple[str, str, str, str, float]:
    """PROVIDER, BASE_URL, MODEL, API_KEY_ENV and TIMEOUT_SECONDS of one speech service, `prefix`_ each."""
    return (
        env.str(f"{prefix}_PROVIDER", default=provider).lower(), env.str(f"{prefix}_BASE_URL", default=""),
        env.str(f"{prefix}_MODEL", default=model), env.str(f"{prefix}_API_KEY_ENV", default=""),
        env.float(f"{prefix}_TIMEOUT_SECONDS", default=60.0),
    )


# Speech to text: "pocketsphinx" (offline, English, the default) or "openai" (any /v1/audio/transcriptions server).
STT_PROVIDER, STT_BASE_URL, STT_MODEL, STT_API_KEY_ENV, STT_TIMEOUT_SECONDS = _speech_service("STT", "pocketsphinx", "whisper-1")
STT_LANGUAGE = env.str("STT_LANGUAGE", default="")
# Text to speech for replies when the person turns "Speak replies" on: "espeak" (offline, when espeak-ng is
# installed; otherwise replies stay text), "openai" (any /v1/audio/speech server) or "none".
TTS_PROVIDER, TTS_BASE_URL, TTS_MODEL, TTS_API_KEY_ENV, TTS_TIMEOUT_SECONDS = _speech_service("TTS", "espeak", "tts-1")
TTS_VOICE = env.str("TTS_VOICE", default="alloy")
TTS_MAX_CHARS = env.int("TTS_MAX_CHARS", default=4000)
