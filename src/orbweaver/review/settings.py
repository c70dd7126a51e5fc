"""Review settings, kept apart from `orbweaver.config.Settings` so stages do not collide.

Same `ORBWEAVER_` environment prefix, e.g. `ORBWEAVER_REVIEW_CONSENSUS=3`, and the same TOML
file (top level or `[review]`).
"""

from __future__ import annotations

from typing import ClassVar, Literal

from orbweaver.config import OrbweaverSettings


class ReviewSettings(OrbweaverSettings):
    """Knobs of the queue, consensus, wellbeing and console sessions."""

    section: ClassVar[str] = "review"

    # Agreeing assessments needed for a verdict; any disagreement goes to a senior analyst.
    review_consensus: int = 2
    # INHOPE's guidance: at most four hours of exposure a day.
    review_exposure_cap_hours: float = 4.0
    # Seconds charged per heartbeat of an open item page, and per image fetched over the API.
    review_heartbeat_seconds: int = 15
    review_api_view_seconds: int = 30
    # The hotline's own bank, where confirmed media's hashes go.
    review_bank: str = "hotline"
    # A verdict that banks new entries matches every stored media against them at once
    # (retroactive matching: other pictures near its PDQ become detections too); off, the
    # verdict detects its own media's sightings only (`orbweaver bank retro` does the rest).
    review_retro_match: bool = True
    # PDQ quality floor of that matching (the matcher's default when unset: 50).
    review_retro_quality_min: int | None = None
    # A sighting seen this recently counts as "still online" until a re-check says otherwise.
    review_online_window_hours: float = 72.0
    # PDQ distance under which a new media joins an open item as a near-duplicate.
    review_group_distance: int = 31
    # PDQ distances to a known entry up to this count as "close" for priority.
    review_near_distance: int = 90
    # The order "next" serves open items in (`queue_order` in docs/architecture.md): `expected`
    # (the default: the actionable notices a review now is expected to give: classifier score
    # (else the host's record of actionable verdicts) x the chance it is still online at the
    # verdict, from the host's observed removal times), `fifo` (oldest first) or `priority` (the
    # lexicographic score: still online, busy sites, close to a known entry, many sightings;
    # measured worse than `fifo` when analysts cannot keep up: BENCHMARKS.md, issue 18).
    # Changing it re-ranks on the next `refresh_priorities`.
    review_queue_order: Literal["fifo", "priority", "expected"] = "expected"
    # The classifier plug-in: `package.module:factory` or the name of an entry point in the
    # `orbweaver.classifiers` group; the factory gets these settings and returns a callable
    # scoring one suspect in [0, 1] (`orbweaver.review.ClassifierInput`). Empty: none.
    review_classifier: str = ""
    # A free option for the classifier's factory (e.g. its model server's URL).
    review_classifier_url: str = ""
    # A host's removal times when the monitor has measured none yet (median and p90, days).
    review_removal_median_days: float = 7.0
    review_removal_p90_days: float = 60.0
    # Hours from serving an item to its verdict (the consensus' last assessment), for `expected`:
    # about the queue's own latency (longer when analysts are few).
    review_verdict_hours: float = 24.0
    # Serving the next item ingests pending suspects at most this often, and then at most
    # this many batches of 500 (a big backlog is `orbweaver review sync`'s job, not a
    # request's); an analyst who finds nothing waiting triggers a full ingest at once.
    review_sync_interval_seconds: float = 10.0
    review_sync_web_batches: int = 2
    # "next" leases the item it serves to that analyst this long (released on assessing), so
    # analysts asking at the same time get different items.
    review_claim_minutes: float = 10.0
    review_session_hours: float = 12.0
    # Session and login cookies are sent over HTTPS only. Development on plain-HTTP loopback
    # (the demo, the browser tests) turns this off explicitly; `orbweaver serve` refuses
    # that on any other address.
    review_cookie_secure: bool = True
    # Login throttling: token buckets per account and per client address (shared through
    # Redis when ORBWEAVER_REDIS_URL is set). An attacker gets at most the burst, then
    # `..._per_hour` guesses an hour against one account, whatever addresses they use: at
    # most 10 in any hour with the defaults.
    review_login_account_per_hour: float = 5.0
    review_login_account_burst: int = 5
    review_login_address_per_hour: float = 60.0
    review_login_address_burst: int = 20
    # Password checks (argon2: ~64 MiB and ~0.1-0.2 s each) running at once in a process;
    # a login waiting longer than `review_login_wait_s` for a slot is refused (503).
    review_login_hash_concurrency: int = 2
    review_login_wait_s: float = 5.0
    # Roles that must log in with a TOTP code, comma-separated (`orbweaver user totp NAME`
    # enrols; "" turns the requirement off); a user of another role who enrolled needs one too.
    review_totp_roles: str = "senior_analyst,administrator"
    # A session unused this long ends (0: only `review_session_hours` ends it).
    review_idle_minutes: float = 30.0

    # The organisation's wellbeing policy, above each analyst's own settings: when on, images
    # are blurred / greyscale until revealed whatever the analyst chose (the settings page shows
    # the switch locked).
    review_policy_blur: bool = False
    review_policy_greyscale: bool = False
    # A break reminder on the item page after each this many minutes of exposure (0: none).
    review_break_minutes: float = 50.0
    # "Skip" hides an item from the analyst who skipped it for this long (others still get it);
    # "defer" puts it back in their queue after `review_defer_minutes`.
    review_skip_hours: float = 12.0
    review_defer_minutes: float = 30.0

    @property
    def totp_roles(self) -> frozenset[str]:
        return frozenset(r.strip() for r in self.review_totp_roles.split(",") if r.strip())

    @property
    def exposure_cap_seconds(self) -> int:
        return int(self.review_exposure_cap_hours * 3600)
