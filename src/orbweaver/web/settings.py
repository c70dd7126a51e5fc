"""Settings of the web stage, on top of the shared `Settings`.

They live here (env `ORBWEAVER_SHIELD_*`, same TOML file, top level or `[web]`) so the web stage
can grow its knobs without every stage editing one file; `WebSettings` is a `Settings`, so
anything that takes the shared object still works.
"""

from __future__ import annotations

from typing import ClassVar

from orbweaver.config import Settings


class WebSettings(Settings):
    """The shared settings plus the Shield API's."""

    section: ClassVar[str] = "web"

    # Largest upload /v1/media/ reads; bigger ones get 413 before decoding starts.
    shield_max_upload_bytes: int = 32 * 1024 * 1024
    # Pixel budget of /v1/media/: pixels one decode may materialise (after a JPEG's DCT-domain
    # scale-down, so a 50-megapixel photo decodes at 1/8 and passes; a PNG declaring 64
    # megapixels in 182 KiB does not), decodes running at once per worker (a request waiting
    # longer than `shield_decode_wait_s` for one gets 503), and the rate-limit charge: one
    # token a request plus one per `shield_pixels_per_token` decoded pixels.
    shield_max_decoded_pixels: int = 16_000_000
    shield_decode_concurrency: int = 2
    shield_decode_wait_s: float = 10.0
    shield_pixels_per_token: int = 1_000_000
    # Most PDQ hashes in one /v1/pdq/ request.
    shield_pdq_batch_max: int = 1000
    # Default per-client token bucket (a PDQ batch costs one token per hash).
    shield_rate_per_minute: int = 6000
    shield_rate_burst: int = 1000
    # Key prefix of the shared buckets when ORBWEAVER_REDIS_URL is set (one per deployment).
    shield_rate_redis_prefix: str = "orbweaver:ratelimit"
    # Keep a `shield_lookup` row (hashes and verdict, never bytes) per lookup. Off by default.
    shield_retention: bool = False
    # /v1/url/ fetches a URL through the crawl's network policy; off unless a deployment wants it.
    shield_url_enabled: bool = False
    # How often each worker polls the store for bank changes, and when its index counts as stale.
    shield_refresh_interval_s: float = 5.0
    shield_stale_after_s: float = 60.0
    # How long a worker trusts a cached API key before asking the store again (revocation delay).
    shield_auth_cache_s: float = 5.0
    # Publish `/docs`, `/redoc` and `/openapi.json`. Off by default: the description names
    # every route and parameter, which an attacker need not be handed.
    web_api_docs: bool = False
    # The public report form (`/report`, no account; issue 19): per client address at most
    # `report_rate_per_minute` reports (bursts of `report_rate_burst`), each with a proof of
    # work of `report_pow_bits` leading zero bits (hashcash-style, instead of a CAPTCHA) on a
    # challenge signed with `report_pow_secret` (random per process when empty: set it when
    # several workers serve the form) and valid `report_pow_max_age_s`.
    report_form_enabled: bool = True
    report_rate_per_minute: float = 2.0
    report_rate_burst: int = 5
    report_pow_bits: int = 18
    report_pow_secret: str = ""
    report_pow_max_age_s: float = 900.0


def web_settings(settings: Settings | None = None) -> WebSettings:
    """`settings` as WebSettings (environment and TOML filled in when none is given)."""
    if settings is None:
        return WebSettings()
    if isinstance(settings, WebSettings):
        return settings
    return WebSettings.model_validate(settings.model_dump())
