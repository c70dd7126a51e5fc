"""Scenarios: which providers the world holds, how much they host and how they behave.

Two forms are accepted. The seed's `table-1.0.csv` as is (one row per provider: volume, removal
median and p90 in days, recidivism rate), with every other knob at its default; and a TOML (or YAML)
file with a `[world]` table, `[defaults]` behaviour and `[[providers]]`, which may also start from a
CSV (`world.table = "table-1.0.csv"`, relative to the scenario file) and override rows by name.
"""

from __future__ import annotations

import csv
import dataclasses
import tomllib
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from importlib.resources import files
from pathlib import Path
from typing import Any

SERVICE_TYPES = ("content_administrator", "hosting_provider", "cdn", "registrar")
SITE_KINDS = ("image_host", "file_host", "image_board")
# The scenarios shipped as package data, found the same way in a checkout and in an installed
# wheel. A scenario names its table by a path relative to itself, so they are read as plain files
# (a wheel installs unpacked).
SCENARIO_DIR = Path(str(files("orbweaver.sim") / "scenarios"))


class ScenarioError(ValueError):
    """A scenario file that cannot describe a world."""


@dataclass(frozen=True)
class Behaviour:
    """How one provider reacts to notices. Times are in days of world time.

    The first three are the scenario's figures, measured under the reference practice (a first
    notice, then one every 24 hours until the content is gone, no escalation: Project Arachnid's),
    so that practice reproduces them as they are: the removal delay is lognormal, fit to (median,
    p90), and the daily reminders are already in it. Everything else says how the provider departs
    from that baseline when the practice differs (see the sim's README for each knob's source).
    """

    removal_median_days: float = 2.0
    removal_p90_days: float = 10.0
    recidivism_rate: float = 0.1  # share of notices about an image already noticed to it
    never_remove: float = 0.0  # share of notices it never acts on itself (escalation still can)
    # A provider that ignores notices it is not reminded of: for this share of notices whose
    # removal is due later than the window, it acts only if a notice reached it within the
    # window before the due time (daily reminders always do), else at the next reminder.
    reminder_dependence: float = 0.5
    reminder_window_days: float = 2.0
    escalation_effect: float = 0.8  # chance an upstream escalation gets the content removed
    escalation_delay_days: float = 2.0  # median delay after a successful escalation
    reupload_delay_days: float = 20.0  # mean delay from removal to re-upload
    move_share: float = 0.1  # share of re-uploads that appear at once elsewhere (a "move")
    variant_same: float = 0.4  # re-upload variants: byte-identical ...
    variant_reencode: float = 0.3  # ... re-encoded ...
    variant_resize: float = 0.2  # ... resized ...
    variant_mirror: float = 0.1  # ... or mirrored
    removed_status: int = 404  # what a removed URL answers (404 or 410)


@dataclass(frozen=True)
class SiteSpec:
    kind: str
    count: int = 1
    weight: float = 1.0  # share of the provider's images placed on sites of this kind


@dataclass(frozen=True)
class ProviderSpec:
    name: str
    service_type: str
    targeted: int  # verified images targeted, at scale 1
    behaviour: Behaviour
    sites: tuple[SiteSpec, ...] = ()
    notice_channel: str = "smtp"  # or "webhook"
    cdn_origin: str | None = None  # for CDNs: which provider hosts the fronted sites' origins
    # Benign images beside each actionable one on this provider's sites (None: the world's
    # `benign_per_actionable`). No report gives it per provider: a knob of the backlog experiment.
    benign_per_actionable: float | None = None


@dataclass(frozen=True)
class BadServers:
    """Rates of hostile or broken behaviour, as shares of sites that carry each trap."""

    slow: float = 0.0
    broken: float = 0.0
    redirect_loop: float = 0.0
    oversized: float = 0.0
    huge_page: float = 0.0
    huge_page_links: int = 20000


@dataclass(frozen=True)
class WorldSpec:
    name: str = "world"
    start: datetime = datetime(2018, 1, 1, tzinfo=UTC)
    duration_days: float = 1095.0
    initial_share: float = 0.5  # share of original uploads online at start; the rest come later
    known_share: float = 0.6  # of actionable images, share already in the initial hash list
    benign_per_actionable: float = 1.0
    min_size: int = 320
    max_size: int = 800
    format_weights: tuple[tuple[str, float], ...] = (
        ("jpeg", 0.6),
        ("png", 0.15),
        ("webp", 0.15),
        ("gif", 0.1),
    )
    archive_size: tuple[int, int] = (3, 8)
    # Share of pictures that are short synthetic videos instead (issue 16): `video_size`
    # pixels, four seconds at 8 frames a second, MP4 (H.264) or WebM (VP8). 0: none, and the
    # world's random draws are those of a world without videos.
    video_share: float = 0.0
    video_size: tuple[int, int] = (256, 192)
    # Of videos placed on image hosts and boards, share that also get a near-duplicate copy on
    # the same site (re-encoded, resized, trimmed or cropped: only vPDQ links it to the list).
    video_copy_share: float = 0.5
    encrypted_share: float = 0.5  # of archives
    sevenzip_share: float = 0.3  # of archives
    forums: int = 2
    registrars: int = 3
    cdn_forward: str = "cdn"  # whose behaviour a notice forwarded by a CDN follows: "cdn"|"origin"
    page_size: int = 30
    # Content also goes offline on its own (its uploader deletes it, others report it, the site
    # prunes): each placement after its provider's removal delay (median and p90 from upload)
    # times this factor, noticed or not. 0: never (the scenario's figures are notice-driven).
    # An assumption of the backlog experiment (issue 18), not a figure of the report.
    own_removal_factor: float = 0.0
    bad: BadServers = BadServers()


@dataclass(frozen=True)
class Scenario:
    world: WorldSpec
    providers: tuple[ProviderSpec, ...]
    source: str = ""

    def provider(self, name: str) -> ProviderSpec:
        for p in self.providers:
            if p.name == name:
                return p
        raise KeyError(name)


def find(path: str | Path) -> Path:
    """The file itself when it exists; otherwise the shipped scenario of that name, so that
    `small.toml` and `scenarios/small.toml` work from any folder, as in a source checkout."""
    path = Path(path)
    if path.exists() or path.is_absolute():
        return path
    parts = path.parts[1:] if path.parts[:1] == ("scenarios",) else path.parts
    shipped = SCENARIO_DIR.joinpath(*parts)
    return shipped if parts and shipped.exists() else path


def load(path: str | Path) -> Scenario:
    """Load a scenario from a CSV table, a TOML or a YAML file."""
    path = find(path)
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return Scenario(WorldSpec(name=path.stem), tuple(load_table(path)), str(path))
    if suffix == ".toml":
        data = tomllib.loads(path.read_text())
    elif suffix in (".yaml", ".yml"):
        import yaml

        data = yaml.safe_load(path.read_text())
    else:
        raise ScenarioError(f"unknown scenario format: {path}")
    return from_dict(data, base=path.parent, source=str(path))


def load_table(path: Path, defaults: Behaviour | None = None) -> list[ProviderSpec]:
    """Providers from the seed table's columns; volumes are at scale 1."""
    defaults = defaults or Behaviour()
    with path.open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    required = {"esp", "service_type", "verified_images_targeted", "removal_median_days"}
    if not rows or not required <= set(rows[0]):
        raise ScenarioError(f"{path} lacks the columns {sorted(required)}")
    out = []
    for row in rows:
        behaviour = dataclasses.replace(
            defaults,
            removal_median_days=float(row["removal_median_days"]),
            removal_p90_days=float(row.get("removal_p90_days") or row["removal_median_days"]),
            recidivism_rate=float(row.get("recidivism_rate") or 0.0),
        )
        stype = row["service_type"].strip()
        out.append(
            ProviderSpec(
                name=row["esp"].strip(),
                service_type=stype,
                targeted=int(float(row["verified_images_targeted"])),
                behaviour=behaviour,
                sites=default_sites(row["esp"], stype),
            )
        )
    return out


def default_sites(name: str, service_type: str) -> tuple[SiteSpec, ...]:
    """What a provider of this type hosts when the scenario does not say."""
    if "chan" in name.lower():
        return (SiteSpec("image_board", 1),)
    if service_type == "content_administrator":
        return (SiteSpec("image_host", 1),)
    if service_type == "cdn":
        return (SiteSpec("image_host", 2, 0.7), SiteSpec("file_host", 1, 0.3))
    return (
        SiteSpec("image_host", 2, 0.5),
        SiteSpec("file_host", 1, 0.3),
        SiteSpec("image_board", 1, 0.2),
    )


def _build(cls: Any, data: dict[str, Any], base: Any = None) -> Any:
    """A dataclass from a dict, refusing unknown keys (typos must not pass silently)."""
    names = {f.name for f in fields(cls)}
    unknown = set(data) - names
    if unknown:
        raise ScenarioError(f"unknown {cls.__name__} keys: {sorted(unknown)}")
    return dataclasses.replace(base, **data) if base is not None else cls(**data)


def _world(data: dict[str, Any]) -> WorldSpec:
    data = dict(data)
    data.pop("table", None)
    if "start" in data:
        start = data["start"]
        if isinstance(start, str):
            start = datetime.fromisoformat(start.replace("Z", "+00:00"))
        if start.tzinfo is None:
            start = start.replace(tzinfo=UTC)
        data["start"] = start
    if "bad" in data:
        data["bad"] = _build(BadServers, data["bad"])
    if "format_weights" in data:
        data["format_weights"] = tuple(
            (str(k), float(v)) for k, v in data["format_weights"].items()
        )
    if "archive_size" in data:
        data["archive_size"] = tuple(data["archive_size"])
    if "video_size" in data:
        data["video_size"] = tuple(data["video_size"])
    return _build(WorldSpec, data)


def _provider(data: dict[str, Any], defaults: Behaviour, old: ProviderSpec | None) -> ProviderSpec:
    data = dict(data)
    name = data.pop("name")
    base_behaviour = old.behaviour if old else defaults
    beh_keys = {f.name for f in fields(Behaviour)}
    beh = {k: data.pop(k) for k in list(data) if k in beh_keys}
    beh.update(data.pop("behaviour", {}))
    behaviour = _build(Behaviour, beh, base_behaviour)
    stype = data.pop("service_type", old.service_type if old else "hosting_provider")
    sites = data.pop("sites", None)
    site_specs = (
        tuple(_build(SiteSpec, s) for s in sites)
        if sites is not None
        else (old.sites if old else default_sites(name, stype))
    )
    targeted = int(
        data.pop("targeted", data.pop("verified_images_targeted", old.targeted if old else 10))
    )
    spec = ProviderSpec(name, stype, targeted, behaviour, site_specs)
    return _build(ProviderSpec, data, spec) if data else spec


def from_dict(data: dict[str, Any], base: Path = Path("."), source: str = "") -> Scenario:
    """A scenario from parsed TOML/YAML (see `scenarios/table-1.0.toml` for every key)."""
    world_data = dict(data.get("world", {}))
    defaults = _build(Behaviour, dict(data.get("defaults", {})))
    providers: dict[str, ProviderSpec] = {}
    if world_data.get("table"):
        table = Path(world_data["table"])
        table = table if table.is_absolute() else base / table
        providers = {p.name: p for p in load_table(table, defaults)}
    for entry in data.get("providers", []):
        spec = _provider(entry, defaults, providers.get(entry["name"]))
        providers[spec.name] = spec
    scenario = Scenario(_world(world_data), tuple(providers.values()), source)
    validate(scenario)
    return scenario


def validate(scenario: Scenario) -> None:
    if not scenario.providers:
        raise ScenarioError("a scenario needs at least one provider")
    for p in scenario.providers:
        if p.notice_channel not in ("smtp", "webhook"):
            raise ScenarioError(f"{p.name}: notice_channel must be smtp or webhook")
        for s in p.sites:
            if s.kind not in SITE_KINDS:
                raise ScenarioError(f"{p.name}: unknown site kind {s.kind!r}")
        b = p.behaviour
        for share in (b.recidivism_rate, b.never_remove, b.move_share):
            if not 0.0 <= share < 1.0:
                raise ScenarioError(f"{p.name}: shares must lie in [0, 1)")
        for chance in (b.reminder_dependence, b.escalation_effect):
            if not 0.0 <= chance <= 1.0:
                raise ScenarioError(f"{p.name}: chances must lie in [0, 1]")
        if b.reminder_window_days < 1.0:
            raise ScenarioError(
                f"{p.name}: reminder_window_days must be at least 1 (the reference practice "
                "reminds every day, and its figures are the scenario's)"
            )
    if scenario.world.cdn_forward not in ("cdn", "origin"):
        raise ScenarioError("world.cdn_forward must be 'cdn' or 'origin'")


def default_scenario() -> Path:
    return SCENARIO_DIR / "table-1.0.toml"
