"""Settings of the NTL console.

Everything that differs between a laptop and the utility comes from the
environment; the defaults point at the embedded stand-ins that
``scripts/services.sh`` starts (PostgreSQL on this checkout's port, database
``ntl_console``, user ``ntl``) and at the pipeline's layered configuration
(``conf/*.yaml`` + ``NTL_ENV`` + ``NTL_CONSOLE_SET``), read by ``web.pipeline``.

Environment:
    NTL_CONSOLE_SECRET_KEY   Django secret key (default: generated once into var/console/secret_key)
    NTL_CONSOLE_DEBUG        1 for development only
    NTL_CONSOLE_HOSTS        comma-separated allowed host names (default: localhost,127.0.0.1)
    NTL_CONSOLE_DB_NAME      database (default ntl_console)
    NTL_CONSOLE_DB_HOST      host (default NTL_SERVICES_HOST from var/services.env, else 127.0.0.1)
    NTL_CONSOLE_DB_PORT      port (default NTL_PG_PORT from var/services.env, else 5432)
    NTL_CONSOLE_DB_USER      user (default ntl)
    NTL_CONSOLE_DB_PASSWORD  password (default: $NTL_JDBC_PASSWORD, else the local stand-in's "ntl")
    NTL_CONSOLE_SECURE       1 behind HTTPS: secure cookies, HSTS, redirect to https (X-Forwarded-Proto from the proxy)
    NTL_CONSOLE_VAR          where the console keeps its files (default <repo>/var/console)
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
REPO = BASE_DIR.parent
VAR = Path(os.environ.get("NTL_CONSOLE_VAR", REPO / "var" / "console"))


def _services_env() -> dict[str, str]:
    """KEY=VALUE lines that scripts/services.sh writes (ports of this checkout's servers)."""
    path = Path(os.environ.get("NTL_SERVICES_DIR", REPO / "var")) / "services.env"
    out: dict[str, str] = {}
    if path.exists():
        for line in path.read_text().splitlines():
            if "=" in line and not line.startswith("#"):
                key, value = line.split("=", 1)
                out[key.strip()] = value.strip()
    return out


def _secret_key() -> str:
    if os.environ.get("NTL_CONSOLE_SECRET_KEY"):
        return os.environ["NTL_CONSOLE_SECRET_KEY"]
    path = VAR / "secret_key"
    if not path.exists():
        # written whole under a name of its own, then linked into place: processes starting together
        # (server workers, test workers) agree on the first key and never read a half-written file
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_urlsafe(50))
        try:
            os.link(tmp, path)
        except FileExistsError:
            pass  # another process linked its key first: that one is the key
        finally:
            tmp.unlink()
    return path.read_text().strip()


_SERVICES = _services_env()
SECRET_KEY = _secret_key()
DEBUG = os.environ.get("NTL_CONSOLE_DEBUG") == "1"
ALLOWED_HOSTS = [h.strip() for h in os.environ.get("NTL_CONSOLE_HOSTS", "localhost,127.0.0.1").split(",") if h.strip()]

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "web",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "ntl_console.urls"
WSGI_APPLICATION = "ntl_console.wsgi.application"

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
                "web.roles.context",
            ],
        },
    },
]

DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": os.environ.get("NTL_CONSOLE_DB_NAME", "ntl_console"),
        "HOST": os.environ.get("NTL_CONSOLE_DB_HOST", _SERVICES.get("NTL_SERVICES_HOST", "127.0.0.1")),
        "PORT": os.environ.get("NTL_CONSOLE_DB_PORT", _SERVICES.get("NTL_PG_PORT", "5432")),
        "USER": os.environ.get("NTL_CONSOLE_DB_USER", "ntl"),
        "PASSWORD": os.environ.get("NTL_CONSOLE_DB_PASSWORD", os.environ.get("NTL_JDBC_PASSWORD", "ntl")),
        "CONN_MAX_AGE": 60,
        "TEST": {"NAME": os.environ.get("NTL_CONSOLE_TEST_DB_NAME", "test_ntl_console")},
    }
}

AUTH_USER_MODEL = "web.User"
AUTHENTICATION_BACKENDS = ["web.auth.EmailBackend"]
# Argon2 first: new and re-hashed passwords use it; PBKDF2 stays to read older hashes.
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 10}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "ranking"

# Login throttling: this many failed attempts for one e-mail, or from one address,
# within the window lock further attempts until the window has passed.
LOGIN_MAX_FAILURES = int(os.environ.get("NTL_CONSOLE_LOGIN_MAX_FAILURES", "5"))
LOGIN_WINDOW_MINUTES = int(os.environ.get("NTL_CONSOLE_LOGIN_WINDOW_MINUTES", "15"))

SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_AGE = 8 * 3600
SESSION_EXPIRE_AT_BROWSER_CLOSE = True
if os.environ.get("NTL_CONSOLE_SECURE") == "1":
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = 31536000
    SECURE_SSL_REDIRECT = True
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

LANGUAGE_CODE = "en"
TIME_ZONE = "America/Montevideo"
USE_I18N = False
USE_TZ = True

STATIC_URL = "static/"
# The few static files ship in the app (no CDN) and the app serves them itself (ntl_console/urls.py);
# there is no collectstatic step.
STATIC_ROOT = BASE_DIR / "web" / "static"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
DATA_UPLOAD_MAX_MEMORY_SIZE = 10 * 1024 * 1024
FILE_UPLOAD_MAX_MEMORY_SIZE = 10 * 1024 * 1024

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": "INFO"},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}
