"""Settings: one base for every settings class, so each reads the same sources the same way.

Sources, highest first: values passed to the constructor, environment variables
`ORBWEAVER_<NAME>`, the TOML file (`ORBWEAVER_CONFIG`, else `./orbweaver.toml`), the defaults.

TOML layout. A setting has one name everywhere: its environment variable without the prefix,
lower-cased. It is written at the top level of the file, or under its stage's table:

    database_url = "postgresql://orbweaver@db/orbweaver"
    smtp_tls = "tls"                 # the same as ORBWEAVER_SMTP_TLS=tls

    [notices]                        # or grouped by stage: core, attribution, notices,
    smtp_port = 465                  # monitor, review, web (`orbweaver config show` lists them)

A key that no settings class knows, a key under another stage's table, or a key given twice
(at the top level and in its table) is a `ConfigError` naming the key and the closest known
ones: a typo in `smtp_tls` must stop the process, not silently mean cleartext SMTP.

Stages keep their own classes (`<stage>/settings.py`) so they do not all edit one file; each
derives from `OrbweaverSettings` and names its table in `section`. `SETTINGS_MODULES` lists
them, so the file can be checked against every class even where only one is loaded.
"""

from __future__ import annotations

import difflib
import importlib
import os
import tomllib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, ClassVar
from urllib.parse import urlsplit, urlunsplit

from pydantic import Field, field_validator
from pydantic.fields import FieldInfo
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

DEFAULT_DATA_DIR = Path("var")
ENV_PREFIX = "ORBWEAVER_"
CONFIG_ENV = "ORBWEAVER_CONFIG"
# Every module that defines a settings class, in the order `config show` prints them.
SETTINGS_MODULES = (
    "orbweaver.config",
    "orbweaver.crawl.settings",
    "orbweaver.attribution.settings",
    "orbweaver.notices.settings",
    "orbweaver.monitor.settings",
    "orbweaver.review.settings",
    "orbweaver.web.settings",
    "orbweaver.evidence.settings",
    "orbweaver.exchanges.settings",
)
# `ORBWEAVER_*` variables that are not settings: read directly by the code that owns them.
OTHER_ENV = frozenset(
    {
        CONFIG_ENV,
        "ORBWEAVER_RUNTIME",
        "ORBWEAVER_TEST_PG_URL",
        "ORBWEAVER_UPDATE_DOCS",
    }
)
SECRET_SUFFIXES = ("_password", "_key", "_secret", "_token", "_credentials")


class ConfigError(ValueError):
    """The configuration file cannot be used as written."""


def config_path() -> Path | None:
    """The TOML file in effect: `ORBWEAVER_CONFIG` (which must exist), else `./orbweaver.toml`."""
    explicit = os.environ.get(CONFIG_ENV)
    if explicit:
        path = Path(explicit)
        if not path.is_file():
            raise FileNotFoundError(f"{CONFIG_ENV} points to a missing file: {path}")
        return path
    default = Path("orbweaver.toml")
    return default if default.is_file() else None


# -- the classes and where each field lives ---------------------------------------------------

_REGISTRY: list[type[OrbweaverSettings]] = []


def settings_classes() -> list[type[OrbweaverSettings]]:
    """Every settings class, its module imported if need be."""
    for name in SETTINGS_MODULES:
        importlib.import_module(name)
    ours = [cls for cls in _REGISTRY if cls.__module__ in SETTINGS_MODULES]
    return sorted(ours, key=lambda cls: SETTINGS_MODULES.index(cls.__module__))


def _own_fields(cls: type[OrbweaverSettings]) -> list[str]:
    """The fields `cls` declares itself (not those it inherits)."""
    inherited: set[str] = set()
    for base in cls.__mro__[1:]:
        inherited.update(getattr(base, "model_fields", {}))
    return [name for name in cls.model_fields if name not in inherited]


def field_sections() -> dict[str, str]:
    """Every setting's name → the table it belongs to."""
    out: dict[str, str] = {}
    for cls in settings_classes():
        for name in _own_fields(cls):
            if name in out and out[name] != cls.section:
                raise ConfigError(f"setting {name!r} is declared by two stages")
            out[name] = cls.section
    return out


# -- the TOML file ----------------------------------------------------------------------------


def _closest(key: str, known: set[str]) -> str:
    near = difflib.get_close_matches(key, sorted(known), n=3, cutoff=0.6)
    return f" (did you mean {', '.join(near)}?)" if near else ""


def flatten_toml(data: dict[str, Any], sections: dict[str, str], where: str) -> dict[str, Any]:
    """Top-level keys and stage tables → one {setting: value}; refuses unknown, misplaced and
    repeated keys with every problem listed at once."""
    tables = set(sections.values())
    out: dict[str, Any] = {}
    problems: list[str] = []
    for key, value in data.items():
        if key in tables and isinstance(value, dict) and key not in sections:
            for sub, sub_value in value.items():
                home = sections.get(sub)
                if home is None:
                    problems.append(f"unknown setting [{key}] {sub}{_closest(sub, set(sections))}")
                elif home != key:
                    problems.append(f"[{key}] {sub}: {sub} belongs under [{home}]")
                elif sub in out:
                    problems.append(f"{sub} is given twice (top level and [{key}])")
                else:
                    out[sub] = sub_value
        elif isinstance(value, dict) and key not in sections:
            problems.append(f"unknown table [{key}]{_closest(key, tables)}")
        elif key not in sections:
            problems.append(f"unknown setting {key}{_closest(key, set(sections))}")
        elif key in out:
            problems.append(f"{key} is given twice (top level and [{sections[key]}])")
        else:
            out[key] = value
    if problems:
        raise ConfigError(f"{where}: " + "; ".join(problems))
    return out


@lru_cache(maxsize=8)
def _load_toml(path: str, _mtime_ns: int, _size: int) -> dict[str, Any]:
    try:
        data = tomllib.loads(Path(path).read_text())
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from exc
    return flatten_toml(data, field_sections(), path)


def toml_values(path: Path) -> dict[str, Any]:
    """The settings a TOML file sets, checked against every class (read again when it changes)."""
    stat = path.stat()
    return dict(_load_toml(str(path), stat.st_mtime_ns, stat.st_size))


class TomlSource(PydanticBaseSettingsSource):
    """The part of the TOML file that belongs to one settings class."""

    def __init__(self, settings_cls: type[BaseSettings], path: Path | None) -> None:
        super().__init__(settings_cls)
        self.path = path
        self.values = toml_values(path) if path is not None else {}

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return self.values.get(field_name), field_name, False

    def __call__(self) -> dict[str, Any]:
        fields = self.settings_cls.model_fields
        return {k: v for k, v in self.values.items() if k in fields}


# -- the base ---------------------------------------------------------------------------------


class OrbweaverSettings(BaseSettings):
    """The base of every settings class: constructor > environment > TOML > defaults."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore")
    # The TOML table of the fields this class declares; `config show` groups by it too.
    section: ClassVar[str] = ""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.__dict__.get("section"):
            _REGISTRY.append(cls)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, env_settings, TomlSource(settings_cls, config_path()))


# -- where each value came from, secrets masked ----------------------------------------------


@dataclass(frozen=True)
class Effective:
    """One setting as a process would see it."""

    section: str
    name: str
    value: Any
    origin: str  # "default", "toml" or "environment"
    env: str
    secret: bool


def is_secret(name: str) -> bool:
    return name.endswith(SECRET_SUFFIXES) or name in ("password", "secret", "key", "token")


def mask_url(value: str) -> str:
    """A URL with its password replaced by `***` (database and Redis URLs carry them)."""
    try:
        parts = urlsplit(value)
    except ValueError:
        return value
    if not parts.netloc or "@" not in parts.netloc:
        return value
    userinfo, _, hostport = parts.netloc.rpartition("@")
    user, sep, password = userinfo.partition(":")
    if not sep or not password:
        return value
    return urlunsplit(parts._replace(netloc=f"{user}:***@{hostport}"))


def masked(name: str, value: Any) -> Any:
    """The value as `config show` prints it: secrets `***`, passwords in URLs masked, and the
    same inside tables (an exchange's `password` in its table)."""
    if is_secret(name):
        if isinstance(value, dict):
            return {k: "***" if v not in ("", None) else v for k, v in value.items()}
        return "***" if value not in ("", None) else value
    if isinstance(value, dict):
        return {k: masked(str(k), v) for k, v in value.items()}
    if isinstance(value, str):
        return mask_url(value)
    return value


def effective_settings() -> list[Effective]:
    """Every setting of every class: its value (secrets masked) and where it came from."""
    path = config_path()
    from_toml = toml_values(path) if path is not None else {}
    out: list[Effective] = []
    for cls in settings_classes():
        instance = cls()
        from_env = EnvSettingsSource(cls)()
        values = instance.model_dump(mode="json")
        for name in _own_fields(cls):
            origin = (
                "environment" if name in from_env else "toml" if name in from_toml else "default"
            )
            out.append(
                Effective(
                    section=cls.section,
                    name=name,
                    value=masked(name, values[name]),
                    origin=origin,
                    env=f"{ENV_PREFIX}{name.upper()}",
                    secret=is_secret(name),
                )
            )
    return out


def unknown_env() -> list[str]:
    """`ORBWEAVER_*` variables that no setting reads: most likely a typo."""
    known = {f"{ENV_PREFIX}{name.upper()}" for name in field_sections()} | OTHER_ENV
    return sorted(
        k for k in os.environ if k.upper().startswith(ENV_PREFIX) and k.upper() not in known
    )


# -- the shared settings ----------------------------------------------------------------------


class Settings(OrbweaverSettings):
    """The settings every stage shares (store, network policy, clock, limits)."""

    section: ClassVar[str] = "core"

    data_dir: Path = DEFAULT_DATA_DIR
    database_url: str = ""
    # PDQ hashes below this quality are not matched perceptually (HMA uses 50).
    pdq_quality_min: int = 50
    default_pdq_threshold: int = 31
    # Upper bounds that keep one bad file from exhausting memory.
    max_image_bytes: int = 64 * 1024 * 1024
    max_image_pixels: int = 64_000_000
    # Caps on one video (issue 16; crawl, Shield API). Each refusal is a clear error: the crawl
    # logs it, records the file by its exact hashes and goes on. A video's size cap is
    # `max_image_bytes` (the download cap of every media: a 4 GB or endless response is cut
    # before it is read).
    video_max_duration_s: float = 3600.0  # declared or decoded length (an endless stream)
    video_max_frames: int = 250_000  # frames decoded, sampled or not (a flood of tiny frames)
    video_max_fps: float = 240.0  # frame rates above this are refused
    video_max_pixels: int = 8192 * 4320  # width × height of a frame (8K)
    video_max_decode_s: float = 120.0  # wall-clock seconds one video may take to decode
    vpdq_interval_s: float = 1.0  # seconds between hashed frames
    # Network policy (shared by crawl, monitor, attribution and the Shield URL endpoint).
    crawl_allow_networks: Annotated[list[str], NoDecode] = Field(default_factory=list)
    dns_servers: Annotated[list[str], NoDecode] = Field(default_factory=list)
    tor_proxy: str = ""
    # Connect to another port than a URL's ("80=44353"): only for a simulated internet whose
    # sites share one high port; URLs, Host headers and sightings keep the real port.
    crawl_port_map: str = ""
    # Ranges the deployment's own services live at (an internal RDAP server, webhook
    # endpoints on a private network): allowed for RDAP lookups and webhooks, never the crawl.
    service_allow_networks: Annotated[list[str], NoDecode] = Field(default_factory=list)
    dns_cache_ttl_s: float = 300.0
    # How long one fetch may take (re-checks, RDAP); the crawl has its own (`crawl_timeout_s`).
    fetch_timeout_s: float = 30.0
    redis_url: str = ""
    # Follow another clock (the simulated world's) instead of the system clock.
    clock_url: str = ""
    # Key for suspect bytes kept encrypted at rest; without it suspects are not kept.
    suspect_key: str = ""
    # A key being retired (or a passphrase from before keys had to be random): opens what it
    # sealed, never seals; `orbweaver vault rekey` re-seals its data under suspect_key.
    suspect_retired_key: str = ""
    # Unmatched media URLs seen on hosts without detections are kept this many days for
    # re-crawls (`orbweaver db maintain` drops older ones; issue 22).
    seen_retention_days: float = 90.0

    @field_validator("crawl_allow_networks", "dns_servers", "service_allow_networks", mode="before")
    @classmethod
    def _split_commas(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @property
    def resolved_database_url(self) -> str:
        """The store URL; defaults to a SQLite file under the data directory."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.data_dir / 'orbweaver.db'}"


class RunSettings(OrbweaverSettings):
    """How `orbweaver run` runs the roles: which ones, where each answers `/livez`, `/readyz`
    and `/metrics`, how often the loops pass, how a dying role is restarted, how long a stop
    may take, and whether roles migrate the store or wait for `orbweaver db upgrade`."""

    section: ClassVar[str] = "run"

    # The roles `orbweaver run` starts when `--roles` is not given; empty means every role.
    roles: Annotated[list[str], NoDecode] = Field(default_factory=list)
    # Health and metrics listen here; loopback unless a scraper on another host needs them.
    health_host: str = "127.0.0.1"
    supervisor_health_port: int = 9400
    crawl_health_port: int = 9401
    notify_health_port: int = 9402
    monitor_health_port: int = 9403
    review_sync_health_port: int = 9404
    exchanges_health_port: int = 9405
    # `serve` answers its health and metrics on its own app, on this address.
    serve_host: str = "127.0.0.1"
    serve_port: int = 8000
    serve_workers: int = 1
    notify_every_s: float = 30.0
    monitor_every_s: float = 30.0
    review_sync_every_s: float = 30.0
    review_refresh_every_s: float = 3600.0
    # A role that dies is started again after a wait doubling from `restart_backoff_s` up to
    # `restart_backoff_max_s`; one that ran `restart_stable_s` starts from the first wait again.
    # After `restart_alert_after` quick deaths in a row the supervisor logs an ALERT.
    restart_backoff_s: float = 1.0
    restart_backoff_max_s: float = 60.0
    restart_stable_s: float = 60.0
    restart_alert_after: int = 5
    # SIGTERM: each role finishes or hands back its work within this, then it is killed.
    stop_timeout_s: float = 30.0
    # Roles migrate the store when they start (the embedded default). Off where a migration
    # job (`orbweaver db upgrade`, with the schema owner's grants) does it: roles then wait,
    # not ready, until the schema is current.
    auto_migrate: bool = True
    # A readiness probe that takes longer than this (a store that does not answer) says no.
    health_timeout_s: float = 2.0

    @field_validator("roles", mode="before")
    @classmethod
    def _split_roles(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
