"""Removal-time statistics that respect censoring.

Content still online when the report is made has not been removed *yet*: dropping it would make
slow providers look fast, and counting it as removed "now" would bias every figure. Kaplan–Meier
treats it as right-censored (computed here in NumPy, held equal to lifelines by the tests). A
percentile the survival curve never reaches is reported as "> X days" (X the longest
follow-up), as the seed writes "42 days or more".
"""

from __future__ import annotations

import math
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


def _finite(value: float | None) -> float | None:
    return None if value is None or not math.isfinite(value) else float(value)


@dataclass(frozen=True)
class SurvivalCurve:
    """Kaplan–Meier estimate at each distinct event time, with 95% confidence bounds."""

    times: np.ndarray
    survival: np.ndarray
    lower: np.ndarray
    upper: np.ndarray

    def first_below(self, level: float, which: str = "survival") -> float:
        """Earliest time the curve is at or below `level` (inf if it never gets there)."""
        curve = getattr(self, which)
        hit = np.flatnonzero(curve <= level + 1e-12)  # 0.1 is 0.1000…02 after a product
        return float(self.times[hit[0]]) if hit.size else math.inf


_Z95 = 1.959963984540054


def kaplan_meier(durations: np.ndarray, events: np.ndarray) -> SurvivalCurve:
    """The product-limit estimator, vectorised: one sort, no per-group fitting overhead.

    Same estimator and the same exponential-Greenwood bounds as lifelines'
    `KaplanMeierFitter` (the tests hold the two equal), at a fraction of the cost per group, which
    matters when a report has hundreds of providers and months.
    """
    times, inverse = np.unique(durations, return_inverse=True)
    deaths = np.bincount(inverse, weights=events.astype(np.float64), minlength=times.size)
    leaving = np.bincount(inverse, minlength=times.size)
    at_risk = durations.size - np.concatenate([[0], np.cumsum(leaving)[:-1]])
    with np.errstate(divide="ignore", invalid="ignore"):
        survival = np.cumprod(1.0 - deaths / at_risk)
        var = np.cumsum(np.where(at_risk > deaths, deaths / (at_risk * (at_risk - deaths)), 0.0))
        log_s = np.log(survival)
        spread = _Z95 * np.sqrt(var) / log_s
        lower = np.exp(-np.exp(np.log(-log_s) - spread))
        upper = np.exp(-np.exp(np.log(-log_s) + spread))
    lower = np.where(np.isfinite(lower), lower, np.where(survival >= 1.0, 1.0, 0.0))
    upper = np.where(np.isfinite(upper), upper, np.where(survival >= 1.0, 1.0, 0.0))
    return SurvivalCurve(times, survival, lower, upper)


def removal_stats(durations_days: ArrayLike, removed: ArrayLike) -> RemovalStats:
    """Kaplan–Meier median and p90 of removal time; `removed` False marks right-censored rows."""
    durations = np.clip(np.asarray(durations_days, dtype=float), 0.0, None)
    events = np.asarray(removed, dtype=bool)
    n = int(durations.size)
    if n == 0:
        return RemovalStats(0, 0, None, None, (None, None), 0.0)
    curve = kaplan_meier(durations, events)
    return RemovalStats(
        n=n,
        removed=int(events.sum()),
        median_days=_finite(curve.first_below(0.5)),
        p90_days=_finite(curve.first_below(0.1)),
        median_ci=(
            _finite(curve.first_below(0.5, "lower")),
            _finite(curve.first_below(0.5, "upper")),
        ),
        max_followup_days=float(durations.max()),
    )


def naive_stats(durations_days: ArrayLike, removed: ArrayLike) -> RemovalStats:
    """The biased figures one gets by dropping content still online; kept to show the difference."""
    durations = np.asarray(durations_days, dtype=float)
    events = np.asarray(removed, dtype=bool)
    kept = durations[events]
    return removal_stats(kept, np.ones(kept.size, dtype=bool))
