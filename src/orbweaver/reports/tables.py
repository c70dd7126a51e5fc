"""Figure 1.0 and Table 1.0 of the seed report, and their breakdowns, from observed notices.

Input is one row per notice (`NOTICE_COLUMNS`), however the store produced it, so the same code
serves the demo, the production store and the 5.4-million-detection benchmark.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

import pandas as pd

from orbweaver.reports.survival import RemovalStats, naive_stats, removal_stats

NOTICE_COLUMNS = {
    "provider": "object",  # the provider the notice went to, named as the seed names it
    "service_type": "object",
    "sent_at": "datetime64[ns]",  # first notice sent
    "duration_days": "float64",  # to estimated removal, or to the last check if still online
    "removed": "bool",  # False: still online when last checked (right-censored)
    "recidivist": "bool",  # its media was already noticed to this provider before
    "category": "object",
    "reached_from_tor": "bool",
    "archive": "bool",
    "members": "int64",  # archive members matched (1 for a plain media URL)
    "followups": "int64",
    "escalations": "int64",
    # The hosting country (RDAP's network country for the host, ISO 3166 alpha-2), "" unknown.
    "country": "object",
    "media_type": "object",  # "video": a detected media of the notice is a video; else "picture"
}


def empty_notices() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype=t) for c, t in NOTICE_COLUMNS.items()})


@dataclass
class ReportInputs:
    """Everything a report is computed from: notices plus counts the store keeps elsewhere."""

    notices: pd.DataFrame
    detected: int = 0
    detected_by_category: dict[str, int] = field(default_factory=dict)
    # Detected sightings by media type ("picture", "video"; issue 16).
    detected_by_media_type: dict[str, int] = field(default_factory=dict)
    detected_clear_web: int = 0
    suspect_backlog: int = 0
    tor_only: int = 0
    # Content gone at the re-check just before its first notice: counted, never noticed, and
    # not in removal times (no notice went, so no removal clock started).
    removed_before_notice: int = 0
    # Notices an operator's hold covered, and their held time in days: shown beside removal
    # time, not subtracted from it (the provider had the notice throughout).
    held_notices: int = 0
    held_days: float = 0.0
    recheck_cadence: str = "+1 h, +6 h, +24 h, then daily while online"


@dataclass(frozen=True)
class GroupRow:
    """One line of a table: a provider, a category, a network, a month..."""

    name: str
    service_type: str
    targeted: int
    removal: RemovalStats
    recidivism_rate: float | None
    followups: int
    escalations: int
    videos: int = 0  # of `targeted`, notices for videos (the rest are pictures)

    def as_contract(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "service_type": self.service_type,
            "targeted": self.targeted,
            "removal_median_days": _round(self.removal.median_days),
            "removal_p90_days": _round(self.removal.p90_days),
            "recidivism_rate": _round(self.recidivism_rate, 4),
            "censored": self.removal.censored,
        }

    def as_detail(self) -> dict[str, Any]:
        data = self.as_contract()
        data.update(
            median_display=self.removal.display("median"),
            p90_display=self.removal.display("p90"),
            median_ci_days=[_round(v, 2) for v in self.removal.median_ci],
            median_ci_display=ci_display(self.removal),
            small_n=self.targeted < SMALL_N,
            censored_share=_round(self.removal.censored_share, 4),
            max_followup_days=_round(self.removal.max_followup_days),
            followups=self.followups,
            escalations=self.escalations,
            pictures=self.targeted - self.videos,
            videos=self.videos,
        )
        return data


# Groups with fewer notices than this get a caveat: their figures are indicative only.
SMALL_N = 10


def ci_display(removal: RemovalStats) -> str:
    """The median's 95% interval as shown beside the median's one decimal: rounded outwards
    (lower bound down, upper up), so the shown median is never outside its shown interval
    ("1.0 (0.96–0.96)" was); none on fewer than two removals, where it means nothing."""
    low, high = removal.median_ci
    if removal.removed < 2 or low is None:
        return "too few removals"
    shown_low = math.floor(low * 10) / 10
    upper = "∞" if high is None else f"{math.ceil(high * 10) / 10:.1f}"
    return f"{shown_low:.1f}–{upper}"


def _round(value: float | None, digits: int = 3) -> float | None:
    return None if value is None else round(float(value), digits)


def _group_row(name: str, service_type: str, rows: pd.DataFrame) -> GroupRow:
    return GroupRow(
        name=name,
        service_type=service_type,
        targeted=len(rows),
        removal=removal_stats(rows["duration_days"].to_numpy(), rows["removed"].to_numpy()),
        recidivism_rate=float(rows["recidivist"].mean()) if len(rows) else None,
        followups=int(rows["followups"].sum()),
        escalations=int(rows["escalations"].sum()),
        videos=int((media_type_labels(rows) == "video").sum()),
    )


def table_1_0(notices: pd.DataFrame) -> list[GroupRow]:
    """Per provider, most targeted first, as the seed's Table 1.0."""
    rows = [
        _group_row(str(name), str(group["service_type"].iloc[0]), group)
        for name, group in notices.groupby("provider", sort=False)
    ]
    return sorted(rows, key=lambda r: (-r.targeted, r.name))


def breakdown(notices: pd.DataFrame, by: str | pd.Series) -> list[GroupRow]:
    return [
        _group_row(str(key), "", group)
        for key, group in notices.groupby(by, sort=True, observed=True)
    ]


def media_type_labels(notices: pd.DataFrame) -> pd.Series:
    """ "picture" or "video" per notice; frames made before issue 16 hold only pictures."""
    if "media_type" not in notices.columns:
        return pd.Series("picture", index=notices.index, dtype=object)
    return notices["media_type"].fillna("picture")


def network_labels(notices: pd.DataFrame) -> pd.Series:
    return notices["reached_from_tor"].map({True: "reached from tor", False: "clear web only"})


def country_labels(notices: pd.DataFrame) -> pd.Series:
    """The hosting country per notice, "unknown" where RDAP gave none (or no column: inputs
    made before countries were recorded)."""
    if "country" not in notices:
        return pd.Series("unknown", index=notices.index, dtype=object)
    return notices["country"].fillna("").replace("", "unknown")


def month_labels(notices: pd.DataFrame) -> pd.Series:
    # datetime64[M] then a string per distinct month: strftime per row is seconds at 600k rows.
    months = notices["sent_at"].to_numpy().astype("datetime64[M]")
    return (
        pd.Series(months, index=notices.index)
        .astype("category")
        .cat.rename_categories(lambda m: str(m)[:7])
    )


@dataclass
class Report:
    inputs: ReportInputs
    overall: GroupRow
    providers: list[GroupRow]
    by_category: list[GroupRow]
    by_network: list[GroupRow]
    by_media_type: list[GroupRow]
    by_month: list[GroupRow]
    by_country: list[GroupRow]
    naive_overall: RemovalStats

    def summary(self) -> dict[str, Any]:
        """The JSON contract's `summary`."""
        return {
            "detected": self.inputs.detected,
            "targeted": self.overall.targeted,
            "removal_median_days": _round(self.overall.removal.median_days),
            "removal_p90_days": _round(self.overall.removal.p90_days),
            "recidivism_rate": _round(self.overall.recidivism_rate, 4),
            "providers": len(self.providers),
            "removed_before_notice": self.inputs.removed_before_notice,
            "held_notices": self.inputs.held_notices,
        }

    def figure_1_0(self) -> dict[str, Any]:
        """The seed's headline figures, plus what it leaves implicit (censoring, cadence)."""
        n = self.inputs.notices
        archives = n[n["archive"]]
        clear = (
            self.inputs.detected_clear_web / self.inputs.detected if self.inputs.detected else None
        )
        return {
            "verified_images_detected": self.inputs.detected,
            "verified_images_targeted_for_removal": self.overall.targeted,
            "removal_median_days": self.overall.removal.display("median"),
            "removal_p90_days": self.overall.removal.display("p90"),
            "recidivism_rate": _round(self.overall.recidivism_rate, 4),
            "esps": len(self.providers),
            "share_hosted_clear_web": _round(clear, 4),
            "suspect_backlog": self.inputs.suspect_backlog,
            "tor_only_not_noticed": self.inputs.tor_only,
            "removed_before_notice": self.inputs.removed_before_notice,
            "held_notices": self.inputs.held_notices,
            "held_days_total": _round(self.inputs.held_days),
            "censored_share": _round(self.overall.removal.censored_share, 4),
            "recheck_cadence": self.inputs.recheck_cadence,
            "archives_noticed": len(archives),
            "archive_members_matched": int(archives["members"].sum()),
            "verified_pictures_detected": self.inputs.detected_by_media_type.get("picture", 0),
            "verified_videos_detected": self.inputs.detected_by_media_type.get("video", 0),
            "videos_targeted_for_removal": self.overall.videos,
        }

    def contract(self) -> dict[str, Any]:
        """`orbweaver report --json`: scripts depend on this shape."""
        return {
            "summary": self.summary(),
            "providers": [p.as_contract() for p in self.providers],
        }

    def detail(self) -> dict[str, Any]:
        data = self.contract()
        data["figure_1_0"] = self.figure_1_0()
        data["table_1_0"] = [p.as_detail() for p in self.providers]
        data["by_category"] = [r.as_detail() for r in self.by_category]
        data["by_network"] = [r.as_detail() for r in self.by_network]
        data["by_media_type"] = [r.as_detail() for r in self.by_media_type]
        data["by_month"] = [r.as_detail() for r in self.by_month]
        data["by_country"] = [r.as_detail() for r in self.by_country]
        data["detected_by_category"] = dict(self.inputs.detected_by_category)
        data["detected_by_media_type"] = dict(self.inputs.detected_by_media_type)
        data["without_censoring"] = asdict(self.naive_overall)
        return data


def build_report(inputs: ReportInputs) -> Report:
    notices = inputs.notices
    return Report(
        inputs=inputs,
        overall=_group_row("all providers", "", notices),
        providers=table_1_0(notices),
        by_category=breakdown(notices, "category"),
        by_network=breakdown(notices, network_labels(notices)),
        by_media_type=breakdown(notices, media_type_labels(notices)),
        by_month=breakdown(notices, month_labels(notices)),
        by_country=breakdown(notices, country_labels(notices)),
        naive_overall=naive_stats(notices["duration_days"], notices["removed"]),
    )
