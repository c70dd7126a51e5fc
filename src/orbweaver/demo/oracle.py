"""The demo's classifier plug-in: the world's oracle of chosen AUC, asked over HTTP.

It plugs in where a hotline plugs its own model (`review_classifier`, docs/architecture.md,
extension points): `review_classifier = "orbweaver.demo.oracle:world_oracle"` and
`review_classifier_url` = the world's `GET {control}/classifier/{sha256}?auc=X` with `{sha256}`
left in. The world scores a picture it served as a classifier of that AUC would (sim/oracle.py);
bytes it never served get no score (the classifier abstains).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import httpx

if TYPE_CHECKING:
    from orbweaver.review import Classifier, ClassifierInput, ReviewSettings


def oracle_url(control: str, auc: float) -> str:
    """The `review_classifier_url` for a world's control address and an AUC."""
    return f"{control.rstrip('/')}/classifier/{{sha256}}?auc={auc:g}"


def world_oracle(settings: ReviewSettings) -> Classifier:
    """The factory `review_classifier` names: one HTTP client, one GET per new suspect."""
    template = settings.review_classifier_url
    if "{sha256}" not in template:
        raise ValueError("review_classifier_url must hold {sha256} for the world's oracle")
    client = httpx.Client(timeout=10.0, trust_env=False)

    def classify(item: ClassifierInput) -> float | None:
        response = client.get(template.format(sha256=item.sha256))
        if response.status_code == 404:
            return None
        response.raise_for_status()
        return float(response.json()["score"])

    return classify
