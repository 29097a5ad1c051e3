"""Typed configuration read from ``HELPDESK_*`` environment variables.

A wrong value fails at start with a message naming the variable, instead of a
confusing error on the first request that happens to need it.
"""
from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field, fields
from pathlib import Path

PREFIX = "HELPDESK_"


class ConfigError(RuntimeError):
    """A setting is missing or malformed; the message names the variable."""


def _bool(name: str, raw: str) -> bool:
    value = raw.strip().lower()
    if value in {"1", "true", "yes", "on"}:
        return True
    if value in {"0", "false", "no", "off", ""}:
        return False
    raise ConfigError(f"{PREFIX}{name}={raw!r}: expected true or false")


def _int(name: str, raw: str, minimum: int = 0) -> int:
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{PREFIX}{name}={raw!r}: expected a whole number") from None
    if value < minimum:
        raise ConfigError(f"{PREFIX}{name}={raw!r}: must be at least {minimum}")
    return value


def _float(name: str, raw: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{PREFIX}{name}={raw!r}: expected a number") from None
    if value < 0:
        raise ConfigError(f"{PREFIX}{name}={raw!r}: must not be negative")
    return value


def _choice(options: tuple[str, ...]):
    def parse(name: str, raw: str) -> str:
        if raw not in options:
            raise ConfigError(f"{PREFIX}{name}={raw!r}: expected one of {', '.join(options)}")
        return raw
    return parse


def _regex_name(name: str, raw: str) -> str:
    """An SQL identifier such as a text search configuration ("english", "simple")."""
    import re
    if not re.fullmatch(r"[a-z_][a-z0-9_]{0,62}", raw):
        raise ConfigError(f"{PREFIX}{name}={raw!r}: expected a PostgreSQL text search configuration name such as english or simple")
    return raw


def _regex(name: str, raw: str) -> str:
    import re
    try:
        re.compile(raw)
    except re.error as exc:
        raise ConfigError(f"{PREFIX}{name}={raw!r}: not a valid regular expression ({exc})") from None
    return raw


def _str(name: str, raw: str) -> str:
    return raw


def _periods(name: str, raw: str) -> str:
    wanted = [p.strip() for p in raw.split(",") if p.strip()]
    if any(p not in ("week", "month") for p in wanted):
        raise ConfigError(f"{PREFIX}{name}={raw!r}: expected week, month, both separated by a comma, or nothing")
    return ",".join(wanted)


@dataclass
class Settings:
    """Every setting, its default and its parser. Documented in .env.example."""

    INSTANCE_PATH: str = ""
    DATABASE_URL: str = ""
    SECRET_KEY: str = ""
    INDEX_PATH: str = ""
    UPLOAD_PATH: str = ""
    # "" = bundled all-MiniLM-L6-v2, "int8" = the same quantised to int8 (faster encoding),
    # "hash" = test embedder, else a model folder ("int8:PATH" quantises that one)
    EMBEDDING_MODEL: str = ""
    # "thread": the in-process worker (embedded default); "rq": jobs and schedules on Redis
    # through RQ (`flask worker rq`, docs/deploy.md); "off": nothing runs in the background.
    WORKER: str = field(default="thread", metadata={"parse": _choice(("thread", "rq", "off"))})
    REDIS_URL: str = ""                        # required by WORKER=rq; also the rate limits' store
    QUEUE_NAME: str = "helpdesk"
    JOB_RETRIES: int = field(default=3, metadata={"parse": lambda n, r: _int(n, r, 0)})
    # "local": Whoosh + vectors in INDEX_PATH; "postgresql": full-text search and pgvector in
    # SEARCH_DATABASE_URL (default: DATABASE_URL), shared by every app server.
    SEARCH_BACKEND: str = field(default="local", metadata={"parse": _choice(("local", "postgresql"))})
    SEARCH_DATABASE_URL: str = ""
    SEARCH_TEXT_CONFIG: str = field(default="english", metadata={"parse": _regex_name})
    LOG_FORMAT: str = field(default="text", metadata={"parse": _choice(("text", "json"))})
    LOG_LEVEL: str = field(default="INFO", metadata={"parse": _choice(("DEBUG", "INFO", "WARNING", "ERROR"))})
    SEARCH_KEYWORD_WEIGHT: float = field(default=0.25, metadata={"parse": _float})
    SEARCH_SEMANTIC_WEIGHT: float = field(default=1.0, metadata={"parse": _float})
    SEARCH_FUSION: str = field(default="relative", metadata={"parse": _choice(("relative", "rrf"))})
    MAX_QUERY_CHARS: int = field(default=1000, metadata={"parse": lambda n, r: _int(n, r, 10)})
    SUGGEST_LIMIT: int = field(default=5, metadata={"parse": lambda n, r: _int(n, r, 1)})
    LOGIN_RATE_LIMIT: str = "10 per minute"
    SUGGEST_RATE_LIMIT: str = "120 per minute"
    RATELIMIT_STORAGE_URI: str = "memory://"
    # How many reverse proxies (nginx, a load balancer) sit in front and set X-Forwarded-For and
    # -Proto; 0 = none: trust no such header (a client could forge its address to dodge rate limits).
    PROXY_FIX: int = field(default=0, metadata={"parse": lambda n, r: _int(n, r, 0)})
    SESSION_COOKIE_SECURE: bool = field(default=False, metadata={"parse": _bool})
    DEFAULT_LOCALE: str = field(default="en", metadata={"parse": _choice(("en", "zh"))})
    DEFLECTION_WINDOW_DAYS: int = field(default=7, metadata={"parse": lambda n, r: _int(n, r, 1)})
    MAX_IMPORT_MB: int = field(default=50, metadata={"parse": lambda n, r: _int(n, r, 1)})
    SCHEDULER_SECONDS: int = field(default=60, metadata={"parse": lambda n, r: _int(n, r, 0)})  # 0 = off
    ATTACHMENTS_PATH: str = ""
    ATTACHMENT_MAX_MB: int = field(default=10, metadata={"parse": lambda n, r: _int(n, r, 1)})
    ATTACHMENT_MAX_COUNT: int = field(default=5, metadata={"parse": lambda n, r: _int(n, r, 1)})
    ATTACHMENT_MAX_PER_TICKET: int = field(default=50, metadata={"parse": lambda n, r: _int(n, r, 1)})
    # Channels and notifications (docs/channels.md).
    BASE_URL: str = "http://localhost:5000"    # links in outgoing mail
    MAIL_FROM: str = "Helpdesk <helpdesk@localhost>"
    SMTP_HOST: str = ""                        # "" = mail waits in the outbox until configured
    SMTP_PORT: int = field(default=25, metadata={"parse": lambda n, r: _int(n, r, 1)})
    SMTP_USER: str = ""
    SMTP_PASSWORD: str = ""
    SMTP_SECURITY: str = field(default="none", metadata={"parse": _choice(("none", "starttls", "ssl"))})
    SMTP_TIMEOUT: int = field(default=15, metadata={"parse": lambda n, r: _int(n, r, 1)})
    IMAP_HOST: str = ""                        # "" = no mailbox to fetch
    IMAP_PORT: int = field(default=993, metadata={"parse": lambda n, r: _int(n, r, 1)})
    IMAP_USER: str = ""
    IMAP_PASSWORD: str = ""
    IMAP_SECURITY: str = field(default="ssl", metadata={"parse": _choice(("none", "starttls", "ssl"))})
    IMAP_FOLDER: str = "INBOX"
    IMAP_AFTER: str = field(default="seen", metadata={"parse": _choice(("seen", "delete"))})
    IMAP_SECONDS: int = field(default=120, metadata={"parse": lambda n, r: _int(n, r, 0)})  # 0 = only by command
    MAIL_MAX_MB: int = field(default=25, metadata={"parse": lambda n, r: _int(n, r, 1)})
    MAIL_REOPEN_DAYS: int = field(default=14, metadata={"parse": lambda n, r: _int(n, r, 0)})
    CHAT_MAX_SKEW_SECONDS: int = field(default=300, metadata={"parse": lambda n, r: _int(n, r, 1)})
    API_RATE_LIMIT: str = "300 per minute"     # per API token; the chat webhook per integration and sender
    # Personal data in drafted articles (kb.pii reads these two from the environment too;
    # declared here so a bad value stops the portal at start). Empty = the built-in default.
    EMPLOYEE_ID_PATTERN: str = field(default="", metadata={"parse": _regex})
    INTERNAL_DOMAINS: str = ""
    ARTICLE_STALE_DAYS: int = field(default=180, metadata={"parse": lambda n, r: _int(n, r, 1)})
    DUPLICATE_WINDOW_HOURS: int = field(default=24, metadata={"parse": lambda n, r: _int(n, r, 1)})
    # Periodic reviews mailed to the leads by the worker (docs/insights.md): "week", "month",
    # "week,month", or "" for none.
    REVIEW_PERIODS: str = field(default="week", metadata={"parse": _periods})

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> "Settings":
        env = os.environ if env is None else env
        values = {}
        for f in fields(cls):
            raw = env.get(PREFIX + f.name)
            if raw is None:
                continue
            parse = f.metadata.get("parse", _str)
            values[f.name] = parse(f.name, raw)
        return cls(**values)


def resolve(settings: Settings, default_instance: str) -> dict:
    """Fill the paths that depend on the instance folder and produce Flask config."""
    instance = Path(settings.INSTANCE_PATH or default_instance).resolve()
    try:
        instance.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"{PREFIX}INSTANCE_PATH={str(instance)!r}: cannot create it ({exc.strerror})") from None
    database_url = settings.DATABASE_URL or f"sqlite:///{instance / 'helpdesk.db'}"
    if "://" not in database_url:
        raise ConfigError(f"{PREFIX}DATABASE_URL={database_url!r}: expected a URL such as sqlite:///path or postgresql://...")
    model = settings.EMBEDDING_MODEL
    search_url = settings.SEARCH_DATABASE_URL or database_url
    if settings.SEARCH_BACKEND == "postgresql" and not search_url.startswith("postgresql"):
        raise ConfigError(f"{PREFIX}SEARCH_BACKEND=postgresql needs a PostgreSQL database: set "
                          f"{PREFIX}DATABASE_URL or {PREFIX}SEARCH_DATABASE_URL to postgresql://...")
    if settings.WORKER == "rq" and not settings.REDIS_URL:
        raise ConfigError(f"{PREFIX}WORKER=rq needs {PREFIX}REDIS_URL (for example redis://127.0.0.1:6379/0)")
    folder = model[len("int8:"):] if model.startswith("int8:") else model
    if folder and folder not in ("hash", "int8") and not Path(folder).exists():
        raise ConfigError(f"{PREFIX}EMBEDDING_MODEL={model!r}: no such folder (use a sentence-transformers model path, "
                          "leave empty for the bundled model, or int8 for the bundled model quantised)")
    return {
        "INSTANCE_PATH": str(instance),
        "SECRET_KEY": settings.SECRET_KEY or _instance_secret(instance),
        "SQLALCHEMY_DATABASE_URI": database_url,
        "INDEX_PATH": settings.INDEX_PATH or str(instance / "index"),
        "UPLOAD_PATH": settings.UPLOAD_PATH or str(instance / "uploads"),
        "EMBEDDING_MODEL": model,
        "WORKER": settings.WORKER,
        "REDIS_URL": settings.REDIS_URL,
        "QUEUE_NAME": settings.QUEUE_NAME,
        "JOB_RETRIES": settings.JOB_RETRIES,
        "SEARCH_BACKEND": settings.SEARCH_BACKEND,
        "SEARCH_DATABASE_URL": search_url if settings.SEARCH_BACKEND == "postgresql" else "",
        "SEARCH_TEXT_CONFIG": settings.SEARCH_TEXT_CONFIG,
        "LOG_FORMAT": settings.LOG_FORMAT,
        "LOG_LEVEL": settings.LOG_LEVEL,
        "SEARCH_KEYWORD_WEIGHT": settings.SEARCH_KEYWORD_WEIGHT,
        "SEARCH_SEMANTIC_WEIGHT": settings.SEARCH_SEMANTIC_WEIGHT,
        "SEARCH_FUSION": settings.SEARCH_FUSION,
        "MAX_QUERY_CHARS": settings.MAX_QUERY_CHARS,
        "SUGGEST_LIMIT": settings.SUGGEST_LIMIT,
        "LOGIN_RATE_LIMIT": settings.LOGIN_RATE_LIMIT,
        "SUGGEST_RATE_LIMIT": settings.SUGGEST_RATE_LIMIT,
        # Left at memory:// with Redis configured, the limits live in Redis, so every app server
        # and worker process counts the same attempts (docs/deploy.md).
        # If the shared store (Redis) is unreachable, count in memory meanwhile instead of
        # failing the login, suggestion and API requests.
        "RATELIMIT_IN_MEMORY_FALLBACK_ENABLED": True,
        "RATELIMIT_STORAGE_URI": (_redis_limits_uri(settings.REDIS_URL)
                                  if settings.REDIS_URL and settings.RATELIMIT_STORAGE_URI == "memory://"
                                  else settings.RATELIMIT_STORAGE_URI),
        "PROXY_FIX": settings.PROXY_FIX,
        "SESSION_COOKIE_SECURE": settings.SESSION_COOKIE_SECURE,
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "REMEMBER_COOKIE_HTTPONLY": True,
        "REMEMBER_COOKIE_SECURE": settings.SESSION_COOKIE_SECURE,
        "BABEL_DEFAULT_LOCALE": settings.DEFAULT_LOCALE,
        "DEFLECTION_WINDOW_DAYS": settings.DEFLECTION_WINDOW_DAYS,
        "SCHEDULER_SECONDS": settings.SCHEDULER_SECONDS,
        # The largest request body: an import, or a full batch of attachments plus the form.
        "MAX_CONTENT_LENGTH": max(settings.MAX_IMPORT_MB * 1024 * 1024,
                                  (settings.ATTACHMENT_MAX_MB * settings.ATTACHMENT_MAX_COUNT + 1) * 1024 * 1024),
        "ATTACHMENTS_PATH": settings.ATTACHMENTS_PATH or str(instance / "attachments"),
        "ATTACHMENT_MAX_BYTES": settings.ATTACHMENT_MAX_MB * 1024 * 1024,
        "ATTACHMENT_MAX_COUNT": settings.ATTACHMENT_MAX_COUNT,
        "ATTACHMENT_MAX_PER_TICKET": settings.ATTACHMENT_MAX_PER_TICKET,
        "SQLALCHEMY_ENGINE_OPTIONS": {"pool_pre_ping": True},
        "BASE_URL": settings.BASE_URL.rstrip("/"),
        "MAIL_FROM": settings.MAIL_FROM,
        "SMTP_HOST": settings.SMTP_HOST,
        "SMTP_PORT": settings.SMTP_PORT,
        "SMTP_USER": settings.SMTP_USER,
        "SMTP_PASSWORD": settings.SMTP_PASSWORD,
        "SMTP_SECURITY": settings.SMTP_SECURITY,
        "SMTP_TIMEOUT": settings.SMTP_TIMEOUT,
        "IMAP_HOST": settings.IMAP_HOST,
        "IMAP_PORT": settings.IMAP_PORT,
        "IMAP_USER": settings.IMAP_USER,
        "IMAP_PASSWORD": settings.IMAP_PASSWORD,
        "IMAP_SECURITY": settings.IMAP_SECURITY,
        "IMAP_FOLDER": settings.IMAP_FOLDER,
        "IMAP_AFTER": settings.IMAP_AFTER,
        "IMAP_SECONDS": settings.IMAP_SECONDS,
        "MAIL_MAX_BYTES": settings.MAIL_MAX_MB * 1024 * 1024,
        "MAIL_REOPEN_DAYS": settings.MAIL_REOPEN_DAYS,
        "MAIL_QUARANTINE_PATH": str(instance / "mail-quarantine"),
        "CHAT_MAX_SKEW_SECONDS": settings.CHAT_MAX_SKEW_SECONDS,
        "DUPLICATE_WINDOW_HOURS": settings.DUPLICATE_WINDOW_HOURS,
        "API_RATE_LIMIT": settings.API_RATE_LIMIT,
        "ARTICLE_STALE_DAYS": settings.ARTICLE_STALE_DAYS,
        "REVIEW_PERIODS": settings.REVIEW_PERIODS,
    }


def _redis_limits_uri(redis_url: str) -> str:
    """The limits library names a Redis socket redis+unix://; redis:// and rediss:// pass as they are."""
    return "redis+" + redis_url if redis_url.startswith("unix://") else redis_url


def _instance_secret(instance: Path) -> str:
    """Generate the secret key once and keep it in the instance folder (mode 600)."""
    path = instance / "secret_key"
    if not path.exists():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_hex(32))
    return path.read_text().strip()
