"""Settings of the monitor stage (env `ORBWEAVER_*`, TOML top level or `[monitor]`)."""

from __future__ import annotations

from typing import Annotated, Any, ClassVar

from pydantic import Field, field_validator
from pydantic_settings import NoDecode

from orbweaver.config import OrbweaverSettings


class MonitorSettings(OrbweaverSettings):
    """When noticed URLs are re-checked and what counts as removed.

    The removal-time estimate is accurate to within one re-check interval, so the cadence is the
    precision of every figure the reports publish; it is a setting, not a constant.
    """

    section: ClassVar[str] = "monitor"

    # Offsets (hours) after the first notice, then every `recheck_every_hours` while online.
    recheck_schedule_hours: Annotated[list[float], NoDecode] = Field(
        default_factory=lambda: [1.0, 6.0, 24.0]
    )
    recheck_every_hours: float = 24.0
    # Offline is confirmed by this many consecutive misses, this many minutes apart.
    offline_confirm_misses: int = 3
    offline_confirm_spacing_minutes: float = 5.0
    monitor_batch_size: int = 200
    monitor_lease_s: float = 300.0
    monitor_concurrency: int = 16

    @field_validator("recheck_schedule_hours", mode="before")
    @classmethod
    def _split_commas(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [float(part) for part in value.split(",") if part.strip()]
        return value


CADENCE_FIELDS = (
    "recheck_schedule_hours",
    "recheck_every_hours",
    "offline_confirm_misses",
    "offline_confirm_spacing_minutes",
)


def cadence_of(settings: MonitorSettings) -> dict[str, Any]:
    """The settings that decide when a removal is seen: the precision of every removal time."""
    return {name: getattr(settings, name) for name in CADENCE_FIELDS}


def cadence_text(cadence: dict[str, Any]) -> str:
    """A cadence in words, as the reports print it next to every removal figure."""
    hours = [float(h) for h in cadence["recheck_schedule_hours"]]
    every = float(cadence["recheck_every_hours"])
    if len(hours) > 6:
        offsets = f"{len(hours)} re-checks from +{hours[0]:g} h to +{hours[-1] / 24:.0f} days"
    else:
        offsets = ", ".join(f"+{h:g} h" for h in hours)
    return (
        f"{offsets}, then every {every:g} h while online; offline confirmed by "
        f"{cadence['offline_confirm_misses']} misses "
        f"{float(cadence['offline_confirm_spacing_minutes']):g} min apart"
    )
