"""Settings of the exchanges stage (env `ORBWEAVER_*`, TOML top level or `[exchanges]`).

Each exchange is one table, named by the exchange, feeding one bank:

    [exchange.ncmec]                 # or [exchanges.exchange.ncmec]
    kind = "ncmec"                   # ncmec | stopncii | fb_threatexchange | file
    bank = "ncmec"
    publish_banks = ["hotline"]      # optional: our verdicts in these banks uploaded here
    url = "https://hashsharing.ncmec.org/npo"   # ncmec: the service's base URL
    user = "hotline"
    # the password is a secret: here as `password`, or (better) in
    # ORBWEAVER_EXCHANGE_CREDENTIALS='{"ncmec": "hotline:…"}', python-threatexchange's
    # credential string for the kind (NCMEC `user:password`, StopNCII its key,
    # ThreatExchange `app-id|secret`)

`orbweaver config show` masks `password`, `key`, `token` and every credential.
"""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic_settings import NoDecode

from orbweaver.categories import CSAM_POSTPUBESCENT, CSAM_PREPUBESCENT
from orbweaver.config import OrbweaverSettings

KINDS = ("ncmec", "stopncii", "fb_threatexchange", "file")
CATEGORY_OF_CLASS = {
    "A1": CSAM_PREPUBESCENT,
    "A2": CSAM_PREPUBESCENT,
    "B1": CSAM_POSTPUBESCENT,
    "B2": CSAM_POSTPUBESCENT,
}


class ExchangeConfig(BaseModel):
    """One exchange: what it is, where it is, which bank it feeds."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["ncmec", "stopncii", "fb_threatexchange", "file"]
    bank: str
    # ncmec: the service's base URL (`…/hashsharing`, `…/npo`); file: a path or a URL.
    url: str = ""
    user: str = ""
    password: str = ""
    # fb_threatexchange: the privacy group to fetch.
    privacy_group: int = 0
    # ncmec: only entries from these members (ESP ids); none: every member.
    members: list[int] = Field(default_factory=list)
    # The exchange's classifications → our categories (NCMEC's A1/A2 prepubescent, B1/B2
    # pubescent, as X-ARF's), added to these; a classification not here gets `category`.
    categories: dict[str, str] = Field(default_factory=dict)
    category: str = CSAM_PREPUBESCENT
    # file: the signal type of lines that do not name one (python-threatexchange's format).
    signal_type: str = ""
    enabled: bool = True
    # Feedback (upvote/downvote) goes back to the exchange when it takes it.
    send_feedback: bool = True
    # Our own banks whose verdicts are published to this exchange (ncmec: an upload of each
    # confirmed picture's fingerprints, once): analysts' confirmations, entries whose source
    # is a review verdict (`review:item:N`), nothing imported or fetched. None: no writes.
    publish_banks: list[str] = Field(default_factory=list)
    # Our categories → the exchange's classification of an upload (added to NCMEC's A1 for
    # prepubescent, B1 for pubescent); a category with none is uploaded unclassified.
    publish_classification: dict[str, str] = Field(default_factory=dict)

    def classification_of(self, category: str) -> str:
        """The exchange's classification for a verdict's category (NCMEC's A1 prepubescent,
        B1 pubescent, `publish_classification` first); empty when it has none."""
        table = {CSAM_PREPUBESCENT: "A1", CSAM_POSTPUBESCENT: "B1", **self.publish_classification}
        return table.get(category, "")

    def category_of(self, classification: str | None) -> str:
        """Our category for the exchange's classification of an entry."""
        if not classification:
            return self.category
        table = {**CATEGORY_OF_CLASS, **self.categories}
        return table.get(classification, table.get(classification.upper(), self.category))


class ExchangeSettings(OrbweaverSettings):
    """Which exchanges feed which banks, their credentials, how often the role fetches."""

    section: ClassVar[str] = "exchanges"

    exchange: dict[str, ExchangeConfig] = Field(default_factory=dict)
    # name → python-threatexchange's credential string for that exchange (a secret).
    exchange_credentials: Annotated[dict[str, str], NoDecode] = Field(default_factory=dict)
    # The exchanges role fetches every exchange this often (and sends pending feedback).
    exchange_fetch_every_s: float = 600.0
    # Feedback that the exchange refuses this many times is given up (status `failed`).
    exchange_vote_attempts: int = 5
    # How long one request to an exchange may take.
    exchange_timeout_s: float = 60.0

    @field_validator("exchange_credentials", mode="before")
    @classmethod
    def _json(cls, value: Any) -> Any:
        if isinstance(value, str):
            import json

            return json.loads(value) if value.strip() else {}
        return value
