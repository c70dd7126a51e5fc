"""Settings: environment variables `ORBWEAVER_*` over an optional TOML file over defaults.

One object carries every knob so that roles (crawl, monitor, notify, serve) are switched by
configuration rather than by different code paths.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any

from pydantic import Field, field_validator
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

DEFAULT_DATA_DIR = Path("var")


def _toml_path() -> Path | None:
    explicit = os.environ.get("ORBWEAVER_CONFIG")
    if explicit:
        path = Path(explicit)
        if not path.is_file():
            raise FileNotFoundError(f"ORBWEAVER_CONFIG points to a missing file: {path}")
        return path
    default = Path("orbweaver.toml")
    return default if default.is_file() else None


class Settings(BaseSettings):
    """All orbweaver settings. Env names are the field names upper-cased with `ORBWEAVER_`."""

    model_config = SettingsConfigDict(env_prefix="ORBWEAVER_", extra="ignore")

    data_dir: Path = DEFAULT_DATA_DIR
    database_url: str = ""
    # PDQ hashes below this quality are not matched perceptually (HMA uses 50).
    pdq_quality_min: int = 50
    default_pdq_threshold: int = 31
    # Upper bounds that keep one bad file from exhausting memory.
    max_image_bytes: int = 64 * 1024 * 1024
    max_image_pixels: int = 64_000_000
    # Network policy (shared by crawl, monitor, attribution and the Shield URL endpoint).
    crawl_allow_networks: Annotated[list[str], NoDecode] = Field(default_factory=list)
    dns_servers: Annotated[list[str], NoDecode] = Field(default_factory=list)
    tor_proxy: str = ""
    redis_url: str = ""
    # Follow another clock (the simulated world's) instead of the system clock.
    clock_url: str = ""
    # Key for suspect bytes kept encrypted at rest; without it suspects are not kept.
    suspect_key: str = ""

    @field_validator("crawl_allow_networks", "dns_servers", mode="before")
    @classmethod
    def _split_commas(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        toml = _toml_path()
        if toml is not None:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=toml))
        return tuple(sources)

    @property
    def resolved_database_url(self) -> str:
        """The store URL; defaults to a SQLite file under the data directory."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.data_dir / 'orbweaver.db'}"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
