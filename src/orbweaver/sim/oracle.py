"""An oracle classifier of chosen quality: what a classifier of a given AUC would score.

The world knows each picture's label, so it can play a classifier of any quality: actionable
pictures (labels "known" and "actionable") draw a latent score from N(d, 1), benign ones from
N(0, 1), with d = sqrt(2) * Phi^-1(AUC), which is the binormal model whose ROC area is the AUC.
The score is Phi(z - d/2), in (0, 1). Draws are fixed per (seed, picture), so the same picture
scores the same everywhere (the demo's HTTP hook, the backlog benchmark). For experiments only:
the product never imports `sim`; it reaches this through its classifier plug-in point.
"""

from __future__ import annotations

import math
import random
from statistics import NormalDist

_N = NormalDist()


def separation(auc: float) -> float:
    """d of the binormal model with this AUC (0.5: none; 1.0 is capped at 0.9999)."""
    auc = min(max(auc, 0.5), 0.9999)
    return math.sqrt(2.0) * _N.inv_cdf(auc)


def oracle_score(seed: int, image_id: int, actionable: bool, auc: float) -> float:
    """The oracle's score in (0, 1) for one picture."""
    z = random.Random(f"{seed}:oracle:{image_id}").gauss(0.0, 1.0)
    d = separation(auc)
    return _N.cdf(z + (d if actionable else 0.0) - d / 2)


def auc_of(scores: list[tuple[float, bool]]) -> float:
    """The ROC area of (score, actionable) pairs (Mann-Whitney, ties count one half)."""
    pos = sorted(s for s, a in scores if a)
    neg = sorted(s for s, a in scores if not a)
    if not pos or not neg:
        return float("nan")
    wins = 0.0
    for s in pos:
        lo = _bisect(neg, s, left=True)
        hi = _bisect(neg, s, left=False)
        wins += lo + (hi - lo) / 2
    return wins / (len(pos) * len(neg))


def _bisect(xs: list[float], x: float, *, left: bool) -> int:
    import bisect

    return bisect.bisect_left(xs, x) if left else bisect.bisect_right(xs, x)
