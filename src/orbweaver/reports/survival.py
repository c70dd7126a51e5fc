"""Removal-time statistics that respect censoring.

Content still online when the report is made has not been removed *yet*: dropping it would make
slow providers look fast, and counting it as removed "now" would bias every figure. Kaplan–Meier
(lifelines) treats it as right-censored. A percentile the survival curve never reaches is reported
as "> X days" (X the longest follow-up), as the seed report writes "42 days or more".
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike


@dataclass(frozen=True)
class RemovalStats:
    """Median and 90th percentile removal time (days) of one group of notices."""

    n: int
    removed: int
    median_days: float | None
    p90_days: float | None
    median_ci: tuple[float | None, float | None]
    max_followup_days: float

    @property
    def censored(self) -> int:
        return self.n - self.removed

    @property
    def censored_share(self) -> float:
        return self.censored / self.n if self.n else 0.0

    def display(self, which: str) -> str:
        """'1.2' when reached, '> 42.0' when the curve never got there, '-' with no data."""
        value = self.median_days if which == "median" else self.p90_days
        if self.n == 0:
            return "-"
        if value is None:
            return f"> {self.max_followup_days:.1f}"
        return f"{value:.1f}"


def _finite(value: float) -> float | None:
    return None if value is None or not math.isfinite(value) else float(value)


def removal_stats(durations_days: ArrayLike, removed: ArrayLike) -> RemovalStats:
    """Kaplan–Meier median and p90 of removal time; `removed` False marks right-censored rows."""
    durations = np.asarray(durations_days, dtype=float)
    events = np.asarray(removed, dtype=bool)
    n = int(durations.size)
    if n == 0:
        return RemovalStats(0, 0, None, None, (None, None), 0.0)
    durations = np.clip(durations, 0.0, None)
    from lifelines import KaplanMeierFitter
    from lifelines.utils import median_survival_times

    kmf = KaplanMeierFitter().fit(durations, events)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ci = median_survival_times(kmf.confidence_interval_)
    lower, upper = (float(v) for v in ci.iloc[0])
    return RemovalStats(
        n=n,
        removed=int(events.sum()),
        median_days=_finite(kmf.median_survival_time_),
        p90_days=_finite(_percentile(kmf, 0.10)),
        median_ci=(_finite(lower), _finite(upper)),
        max_followup_days=float(durations.max()),
    )


def _percentile(kmf: object, survival: float) -> float:
    """Smallest time at which the survival curve is at or below `survival` (inf if never)."""
    curve = kmf.survival_function_  # type: ignore[attr-defined]
    below = curve[curve.iloc[:, 0] <= survival]
    return float(below.index[0]) if len(below) else math.inf


def naive_stats(durations_days: ArrayLike, removed: ArrayLike) -> RemovalStats:
    """The biased figures one gets by dropping content still online; kept to show the difference."""
    durations = np.asarray(durations_days, dtype=float)
    events = np.asarray(removed, dtype=bool)
    kept = durations[events]
    return removal_stats(kept, np.ones(kept.size, dtype=bool))
