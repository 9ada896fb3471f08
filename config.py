"""Configuration classes, read from the environment. No secrets live in code."""
import os
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent

# htmx is pinned to 2.0.x. The CDN copy is checked with its Subresource Integrity hash;
# HTMX_URL=local serves the copy that `npm ci` installs into node_modules (offline, tests).
HTMX_VERSION = "2.0.11"
HTMX_CDN_URL = f"https://cdn.jsdelivr.net/npm/htmx.org@{HTMX_VERSION}/dist/htmx.min.js"
HTMX_CDN_SRI = "sha384-2OatzQy1H+Zd/IIrjr1TcuDGqLXeHhbooAyJY1KdQMKnr4LZ22k31GBLdYKHmVjg"


def _bool(name: str, default: bool) -> bool:
    """Read a true/false environment variable."""
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def _database_url() -> str:
    """The database URL; an SQLite file under instance/ when none is set."""
    url = os.environ.get("DATABASE_URL", "").strip()
    if not url:
        return f"sqlite:///{BASE_DIR / 'instance' / 'kil_network.db'}"
    # Heroku-style URLs and plain postgresql:// use the psycopg 3 driver.
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://"):]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://"):]
    return url


class Config:
    """Settings shared by every environment; each can be overridden by an environment variable."""

    PASSWORD_HASH_METHOD = "scrypt"

    ENV_NAME = "development"
    SECRET_KEY = os.environ.get("SECRET_KEY") or "dev-only-insecure-key-change-me"
    SQLALCHEMY_DATABASE_URI = _database_url()
    SQLALCHEMY_ENGINE_OPTIONS = {"pool_pre_ping": True}

    # Email: without MAIL_SERVER, mail is printed to the console and kept in the staff outbox.
    MAIL_SERVER = os.environ.get("MAIL_SERVER", "")
    MAIL_PORT = int(os.environ.get("MAIL_PORT", "25"))
    MAIL_USE_TLS = _bool("MAIL_USE_TLS", False)
    MAIL_USE_SSL = _bool("MAIL_USE_SSL", False)
    MAIL_USERNAME = os.environ.get("MAIL_USERNAME", "")
    MAIL_PASSWORD = os.environ.get("MAIL_PASSWORD", "")
    MAIL_DEFAULT_SENDER = os.environ.get(
        "MAIL_DEFAULT_SENDER", "Keep it Local Network <network@keepitlocal.invalid>"
    )
    MAIL_MAX_ATTEMPTS = int(os.environ.get("MAIL_MAX_ATTEMPTS", "8"))
    MAIL_POLL_SECONDS = float(os.environ.get("MAIL_POLL_SECONDS", "2"))

    # Development only: with no MAIL_SERVER the worker prints mail to its console. Production
    # refuses to start without MAIL_SERVER unless this is set (README, Settings).
    MAIL_PRINT_TO_CONSOLE = _bool("MAIL_PRINT_TO_CONSOLE", False)
    # A worker stopped while an email was being handed to SMTP leaves it "sending"; after this many
    # seconds it is marked failed ("delivery uncertain") for staff to check, never re-sent blindly.
    MAIL_SENDING_TIMEOUT = float(os.environ.get("MAIL_SENDING_TIMEOUT", "900"))
    # After this many permanent refusals (SMTP 5xx) of an address in a row, it is marked undeliverable:
    # campaign emails and optional notifications skip it, staff see it; a delivery or a new address clears it.
    MAIL_UNDELIVERABLE_AFTER = int(os.environ.get("MAIL_UNDELIVERABLE_AFTER", "3"))

    SERVER_NAME = os.environ.get("SERVER_NAME") or None
    PREFERRED_URL_SCHEME = os.environ.get("PREFERRED_URL_SCHEME", "http")
    # The site's public address: every link in every email and calendar file is built from it,
    # never from the request; requests for any other host than its host (and TRUSTED_HOSTS) get 400.
    BASE_URL = os.environ.get("BASE_URL", "http://127.0.0.1:5000").strip()
    # Extra host names requests may use besides BASE_URL's (comma-separated).
    EXTRA_TRUSTED_HOSTS = [h.strip() for h in os.environ.get("TRUSTED_HOSTS", "").split(",") if h.strip()]

    HTMX_URL = os.environ.get("HTMX_URL", HTMX_CDN_URL)
    HTMX_SRI = os.environ.get("HTMX_SRI", HTMX_CDN_SRI if HTMX_URL == HTMX_CDN_URL else "")

    RATELIMIT_ENABLED = _bool("RATELIMIT_ENABLED", True)
    RATELIMIT_STORAGE_URI = os.environ.get("RATELIMIT_STORAGE_URI", "memory://")
    RATELIMIT_HEADERS_ENABLED = True
    # Redis down: count limits in each process (and log an error) rather than not at all.
    RATELIMIT_IN_MEMORY_FALLBACK_ENABLED = True
    RATELIMIT_STORAGE_OPTIONS = {"socket_connect_timeout": 1, "socket_timeout": 1} if RATELIMIT_STORAGE_URI.startswith(
        ("redis://", "rediss://")) else {}
    # Reverse proxies in front of the app: their X-Forwarded-For/-Proto give the client's address
    # (which rate limits count by) and the scheme. 0 means none: the headers are ignored.
    PROXY_COUNT = int(os.environ.get("PROXY_COUNT", "0"))

    CONFIRM_TOKEN_MAX_AGE = 7 * 24 * 3600
    RESET_TOKEN_MAX_AGE = 3600
    REMEMBER_COOKIE_DURATION = 30 * 24 * 3600
    # A sign-in (session or remember cookie) ends after this long however active (auth.services.load_user).
    SESSION_MAX_AGE = int(os.environ.get("SESSION_MAX_AGE", str(30 * 24 * 3600)))
    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    REMEMBER_COOKIE_HTTPONLY = True
    REMEMBER_COOKIE_SAMESITE = "Lax"
    WTF_CSRF_TIME_LIMIT = None  # the token lives as long as the session
    MEMBERS_PER_PAGE = 20
    # Evidence documents are at most 10MB (evidence.uploads.MAX_BYTES, refused as a form error with
    # everything typed kept); a request up to this size is read, so a document a little or a lot over
    # the limit still comes back as that error. Only a body larger than this is refused unread (413).
    MAX_CONTENT_LENGTH = 32 * 1024 * 1024
    UPLOAD_FOLDER = os.environ.get("UPLOAD_FOLDER", "")
    CONTACT_EMAIL = os.environ.get("CONTACT_EMAIL", "network@keepitlocal.invalid")
    # The home page's headline counts are recomputed at most this often per process.
    HOME_STATS_CACHE_SECONDS = float(os.environ.get("HOME_STATS_CACHE_SECONDS", "60"))


class DevelopmentConfig(Config):
    """Local development: debug on, console mail."""

    DEBUG = True
    EXTRA_TRUSTED_HOSTS = ["localhost", "127.0.0.1", *Config.EXTRA_TRUSTED_HOSTS]


class TestConfig(Config):
    """The test suite: database from TEST_DB_URL (set by the fixtures), fast hashing, no limits."""

    ENV_NAME = "test"
    TESTING = True
    SECRET_KEY = "test-secret-key"
    SQLALCHEMY_DATABASE_URI = "sqlite://"
    RATELIMIT_ENABLED = False
    RATELIMIT_STORAGE_URI = "memory://"
    PASSWORD_HASH_METHOD = "pbkdf2:sha256:1000"  # fast in tests only
    MAIL_SERVER = ""
    HTMX_URL = "local"
    HTMX_SRI = ""
    SERVER_NAME = None
    BASE_URL = "http://127.0.0.1:5000"
    EXTRA_TRUSTED_HOSTS = ["localhost", "127.0.0.1"]
    WTF_CSRF_ENABLED = True
    HOME_STATS_CACHE_SECONDS = 0  # tests count members straight after adding them


class ProductionConfig(Config):
    """Production: secrets must come from the environment; cookies are Secure."""

    ENV_NAME = "production"
    DEBUG = False
    PREFERRED_URL_SCHEME = os.environ.get("PREFERRED_URL_SCHEME", "https")
    # Deployed behind one TLS-terminating proxy (README): without this every visitor would share
    # the proxy's address, and so one rate-limit bucket for the whole site.
    PROXY_COUNT = int(os.environ.get("PROXY_COUNT", "1"))
    # No default: production refuses to start without BASE_URL (links in emails, trusted hosts).
    BASE_URL = os.environ.get("BASE_URL", "").strip()
    SESSION_COOKIE_SECURE = True
    REMEMBER_COOKIE_SECURE = True


CONFIGS = {
    "development": DevelopmentConfig,
    "test": TestConfig,
    "production": ProductionConfig,
}


def config_from_env():
    """Pick the config class named by KIL_ENV (development by default)."""
    return CONFIGS[os.environ.get("KIL_ENV", "development")]
