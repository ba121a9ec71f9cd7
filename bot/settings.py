"""The core's configuration, read once from the environment and `.env`: one section per concern.

The channels add their own sections (``TELEGRAM_*``, ``BITRIX_*``): :class:`CoreSettings` is the
core's part, which :class:`handlers.settings.Settings` extends with every channel's section; the
whole object is read with :func:`handlers.settings.load_settings` (here: :func:`read`)."""

from __future__ import annotations

import re
from datetime import time
from pathlib import Path
from typing import Annotated, Literal, Self, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from bot import dburl
from bot import home as data_home
from bot.delivery.policy import Policy
from bot.storage.lengths import ID_LENGTH

_LANGS = ("ru", "en", "ro")
_DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


class KbSettings(BaseModel):
    """KB_PUBLIC_URL: the address people reach `helpbot serve` at (``https://help.example.com``).

    With it every answer carries a link: the entry's helpdesk article, else its help-center page
    ``<KB_PUBLIC_URL>/kb/<id>``; without it, entries that have no article link carry none.
    """

    public_url: str = ""
    # KB_WATCH: reload when a file under KNOWLEDGE_DIR changes (checked every KB_WATCH_SECONDS).
    watch: bool = False
    watch_seconds: float = Field(default=2.0, gt=0, le=3600)
    # KB_SYNC_SECONDS: how often a server looks in the database for a reload another replica or
    # `helpbot kb reload` asked for with nothing woken it (the store of such an ask wakes every
    # server at once: bot.storage.wakeup); the safety net for a wake-up lost.
    sync_seconds: float = Field(default=60.0, gt=0, le=3600)

    @field_validator("public_url")
    @classmethod
    def _http_address(cls, value: str) -> str:
        value = value.strip().rstrip("/")
        if value and not re.fullmatch(r"https?://[^\s/?#]+(/[^\s?#]*)?", value):
            raise ValueError("must be an http(s) address without query or fragment")
        return value


class DatabaseSettings(BaseModel):
    """DATABASE_URL (``postgresql://…``, ``sqlite:///…``; see :mod:`bot.dburl`) wins, else a SQLite
    file: DATABASE_SQLITE_PATH. Relative SQLite paths lie in the data home (HELPBOT_HOME)."""

    model_config = ConfigDict(hide_input_in_errors=True)  # the URL may hold a password

    url: str = ""
    sqlite_path: Path = data_home.DATABASE_FILE
    echo: bool = False

    @field_validator("url")
    @classmethod
    def _usable(cls, value: str) -> str:
        if value.strip():
            try:
                dburl.check_scheme(value)
            except dburl.DatabaseUrlError as exc:
                raise ValueError(str(exc)) from None
        return value.strip()


class HoursSettings(BaseModel):
    """Operators' hours: HOURS_TIMEZONE, HOURS_DAYS ("mon-fri", "1-5,7"), HOURS_START, HOURS_END."""

    timezone: str = "Europe/Chisinau"
    days: Annotated[frozenset[int], NoDecode] = frozenset(
        {0, 1, 2, 3, 4}
    )  # Monday is 0, as in datetime.weekday()
    start: time = time(9, 0)
    end: time = time(18, 0)

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r}") from None
        return value

    @field_validator("days", mode="before")
    @classmethod
    def _parse_days(cls, value: object) -> object:
        return _parse_days(value) if isinstance(value, str) else value


class ConversationSettings(BaseModel):
    """CONVERSATION_LANGUAGE (ru/en/ro), CONVERSATION_DUPLICATE_MINUTES, CONVERSATION_MAX_TEXT."""

    language: str = "ru"
    duplicate_minutes: int = Field(default=10, ge=0)
    max_text: int = Field(default=4000, ge=100)  # characters stored per message; the rest is cut

    @field_validator("language")
    @classmethod
    def _supported(cls, value: str) -> str:
        if value not in _LANGS:
            raise ValueError(f"must be one of {', '.join(_LANGS)}")
        return value


class QueueSettings(BaseModel):
    """QUEUE_REFLAG_MINUTES: a ticket nobody took is flagged to operators again after this."""

    reflag_minutes: int = Field(default=15, ge=1)


class WebSettings(BaseModel):
    """WEB_HOST and WEB_PORT: where `helpbot serve` listens; WEB_MAX_BODY_BYTES: larger is 413;
    WEB_REUSE_PORT: listen with SO_REUSEPORT, so that several processes on one host share the
    port and the kernel spreads the connections over them (no proxy in front)."""

    host: str = "0.0.0.0"
    port: int = Field(default=8080, ge=0, le=65535)
    reuse_port: bool = False
    max_body_bytes: int = Field(default=1024 * 1024, ge=1024)


class LogSettings(BaseModel):
    """LOG_FORMAT=text|json and LOG_LEVEL, applied by `helpbot serve` (``-v`` means DEBUG)."""

    format: Literal["text", "json"] = "text"
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = "INFO"

    @field_validator("level", mode="before")
    @classmethod
    def _upper(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value


class RedisSettings(BaseModel):
    """REDIS_URL (``redis://…``): optional; when set, readiness checks that Redis answers."""

    model_config = ConfigDict(hide_input_in_errors=True)  # the URL may hold a password

    url: SecretStr | None = None

    @field_validator("url", mode="before")
    @classmethod
    def _blank_is_none(cls, value: object) -> object:
        return None if value == "" else value

    @field_validator("url")
    @classmethod
    def _scheme(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not re.match(r"rediss?://|unix://", value.get_secret_value()):
            raise ValueError("must start with redis://, rediss:// or unix://")
        return value


class ReplicaSettings(BaseModel):
    """REPLICA_ID names this process in row claims and leases (default: host and pid); keep it
    stable across restarts so a restarted replica resumes its own claims at once. A dead
    replica's rows are taken over after REPLICA_CLAIM_SECONDS, its Bitrix24 poller after
    REPLICA_LEASE_SECONDS."""

    id: str = Field(default="", max_length=ID_LENGTH)  # the claims' column
    claim_seconds: float = Field(default=30.0, gt=0)
    lease_seconds: float = Field(default=15.0, gt=0)


class DeliverySettings(BaseModel):
    """How every channel's outbox treats failed sends (see ``bot.delivery.policy``).

    DELIVERY_GIVE_UP_AFTER: seconds a message keeps being retried through 5xx answers,
    time-outs and network errors before it is given up (default a day: an outage of the
    platform costs no reply); DELIVERY_RETRY_CAP: the longest pause between two tries;
    DELIVERY_IN_FLIGHT: sends made at once (to different chats; one chat's keep their order);
    DELIVERY_RECHECK_AFTER: seconds before a channel whose token was refused is tried again;
    DELIVERY_IDLE_SECONDS: the longest a worker sleeps without looking at the database. Stores
    wake the workers (this process's at once; another replica's by a PostgreSQL notification;
    on SQLite a `helpbot operator`'s reply by the doorbell file, see ``bot.storage.wakeup``),
    and a worker with rows due later sleeps until the earliest (a retry, a pause, a dead
    replica's claim running out): this look is the safety net for a wake-up lost.
    On PostgreSQL the listening connection is checked that often too.
    DELIVERY_DOORBELL_SECONDS: on SQLite, how often the server looks at the doorbell file (a
    ``stat``, no transaction).
    """

    give_up_after: float = Field(default=24 * 3600.0, gt=0)
    retry_cap: float = Field(default=60.0, gt=0)
    in_flight: int = Field(default=16, ge=1, le=256)
    recheck_after: float = Field(default=30.0, gt=0)
    idle_seconds: float = Field(default=60.0, gt=0, le=3600)
    doorbell_seconds: float = Field(default=1.0, gt=0, le=60)

    @property
    def policy(self) -> Policy:
        return Policy(self.give_up_after, self.retry_cap, self.recheck_after)


class RetentionSettings(BaseModel):
    """RETENTION_DAYS: `helpbot db purge` blanks texts older than this; 0 keeps them forever."""

    days: int = Field(default=0, ge=0)


class CoreSettings(BaseSettings):
    """The core's sections; the whole configuration (with the channels' sections) is
    :class:`handlers.settings.Settings`, built with ``load_settings()`` or
    ``Settings(_env_file=None)``.

    A section's fields are read from ``<SECTION>_<FIELD>`` (``DATABASE_URL``, ``HOURS_DAYS``).
    """

    model_config = SettingsConfigDict(
        env_file=".env",
        env_file_encoding="utf-8",
        env_nested_delimiter="_",
        env_nested_max_split=1,
        extra="ignore",
    )

    # HELPBOT_HOME: the SQLite database, the index cache and drafts; relative paths of those
    # settings lie inside it, so every command finds the same data wherever it is run from.
    # (Built as ``Settings(helpbot_home=...)``: a field read as "home" would read $HOME.)
    home: Path = Field(
        default_factory=data_home.default_home,
        validation_alias=data_home.HOME_ENV.lower(),
    )
    knowledge_dir: Path | None = None
    # Keys of the corpus words between runs (a build is several times faster); empty: none.
    knowledge_cache_dir: Path | None = data_home.CACHE_DIR
    kb: KbSettings = KbSettings()
    database: DatabaseSettings = DatabaseSettings()
    hours: HoursSettings = HoursSettings()
    conversation: ConversationSettings = ConversationSettings()
    queue: QueueSettings = QueueSettings()
    web: WebSettings = WebSettings()
    log: LogSettings = LogSettings()
    redis: RedisSettings = RedisSettings()
    retention: RetentionSettings = RetentionSettings()
    replica: ReplicaSettings = ReplicaSettings()
    delivery: DeliverySettings = DeliverySettings()

    @field_validator("knowledge_dir", "knowledge_cache_dir", mode="before")
    @classmethod
    def _blank_dir_is_none(cls, value: object) -> object:
        return None if value in ("", None) else value

    @model_validator(mode="after")
    def _paths_in_home(self) -> Self:
        self.home = self.home.expanduser().absolute()
        if self.knowledge_dir is not None:
            self.knowledge_dir = self.knowledge_dir.expanduser().absolute()
        if self.knowledge_cache_dir is not None:
            self.knowledge_cache_dir = data_home.within(self.home, self.knowledge_cache_dir)
        self.database = self.database.model_copy(
            update={
                "sqlite_path": data_home.within(self.home, self.database.sqlite_path),
                "url": dburl.with_base(self.database.url, self.home) if self.database.url else "",
            }
        )
        return self

    @property
    def drafts_dir(self) -> Path:
        """Where draft articles for editors are written (inside the data home)."""
        return self.home / data_home.DRAFTS_DIR


S = TypeVar("S", bound=CoreSettings)


class SettingsError(Exception):
    """The configuration cannot be used; the message says which setting and why."""


def read(kind: type[S], **overrides: object) -> S:
    """Read settings of ``kind`` from the environment and the configuration file (see
    :func:`bot.home.config_file`), turning pydantic's validation report into one readable
    message."""
    if "_env_file" not in overrides:
        config = data_home.config_file()
        if config is not None and not config.is_file():
            raise SettingsError(f"{data_home.CONFIG_ENV}={config}: no such file")
        overrides["_env_file"] = config
    try:
        return kind(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        problems = "; ".join(
            f"{'_'.join(str(p) for p in err['loc']).upper()}: {err['msg']}" for err in exc.errors()
        )
        raise SettingsError(f"invalid configuration: {problems}") from None


def _parse_days(value: str) -> frozenset[int]:
    """ "mon-fri,sun" or "1-5,7" (ISO numbers, Monday is 1) to weekday numbers (Monday is 0)."""
    days: set[int] = set()
    for part in filter(None, (p.strip().lower() for p in value.split(","))):
        bounds = [_day_number(b) for b in re.split(r"\s*-\s*", part)]
        if len(bounds) == 1:
            days.add(bounds[0])
        elif len(bounds) == 2 and bounds[0] <= bounds[1]:
            days.update(range(bounds[0], bounds[1] + 1))
        else:
            raise ValueError(f"bad day range {part!r}")
    return frozenset(days)


def _day_number(token: str) -> int:
    if token.isdigit() and 1 <= int(token) <= 7:
        return int(token) - 1
    if token[:3] in _DAY_NAMES:
        return _DAY_NAMES.index(token[:3])
    raise ValueError(f"unknown day {token!r}")
