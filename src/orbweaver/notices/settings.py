"""Settings of the notices stage (env `ORBWEAVER_*`, TOML top level or `[notices]`), kept here
so stages do not edit one file."""

from __future__ import annotations

from typing import ClassVar, Literal

from orbweaver.config import OrbweaverSettings


class NoticeSettings(OrbweaverSettings):
    """How notices are signed, delivered, followed up and escalated."""

    section: ClassVar[str] = "notices"

    # Who the hotline is, as the X-ARF reporter/sender and the e-mail From.
    notice_from: str = "notices@hotline.example.org"
    notice_org: str = "orbweaver hotline"
    notice_domain: str = "hotline.example.org"
    # SMTP relay. `smtp_tls`: "none", "starttls" (port 587) or "tls" (implicit, port 465).
    smtp_host: str = "127.0.0.1"
    smtp_port: int = 25
    smtp_tls: Literal["none", "starttls", "tls"] = "none"
    smtp_username: str = ""
    smtp_password: str = ""
    smtp_timeout_s: float = 30.0
    # A CA bundle for TLS to a relay with a private CA; empty means the system's.
    smtp_ca_file: str = ""
    # Rounds: follow-up every N hours while the content stays online, escalate upstream
    # after this many unanswered rounds.
    followup_interval_hours: float = 24.0
    escalate_after_rounds: int = 3
    # Delivery: a message that fails for a transient reason (relay or endpoint unreachable,
    # 4xx) is retried, backing off exponentially from `delivery_backoff_s` up to
    # `delivery_backoff_max_s`, for `delivery_retry_hours` after its first failure; then it is
    # surfaced as failed (`orbweaver notices retry` queues it again). `delivery_max_attempts`
    # also caps the attempts when above 0 (off by default: an outage is measured in time).
    delivery_retry_hours: float = 72.0
    delivery_backoff_s: float = 60.0
    delivery_backoff_max_s: float = 3600.0
    delivery_max_attempts: int = 0
    # A claimed message not sent within this lease is claimed again (after a crash).
    delivery_lease_s: float = 300.0
    notify_batch_size: int = 200
    # Casework (issue 19). The re-check just before a first notice: when it cannot tell (DNS
    # outage, timeout, 5xx) the notice waits `precheck_retry_minutes` and is re-checked, up to
    # `precheck_attempts` tries in all, then is sent anyway (`notices/gate.py` says why).
    # Off only where the product cannot reach the sites it notices (a lab without their DNS).
    precheck_enabled: bool = True
    precheck_attempts: int = 3
    precheck_retry_minutes: float = 10.0
    # A message of a held notice is looked at again this often (a release makes it due at once).
    hold_poll_minutes: float = 15.0
    webhook_timeout_s: float = 15.0
