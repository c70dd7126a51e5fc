"""What the spider hands to the pipelines: fetched media (bytes in memory only) and page visits."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from orbweaver.crawl.frontier import PageVisit


@dataclass
class MediaItem:
    """One fetched media file or archive member. `data` is dropped by the store writer once the
    media is fingerprinted, matched and (only if it is a suspect) sealed."""

    url: str
    host: str
    page_url: str | None
    network: str
    reached_from_tor: bool
    data: bytes | None
    archive_url: str | None = None
    member_path: str | None = None
    signals: Any = None
    matches: list[Any] = field(default_factory=list)
    # Evidence (issue 19), held in memory, written only if the media made a detection: the
    # media fetch's exchange (`orbweaver.evidence.Exchange`; the archive's for members) and the
    # linking page's capture (`PageCapture`), when this process still holds it.
    exchange: Any = None
    page: Any = None


@dataclass
class PageItem:
    visit: PageVisit


@dataclass
class MediaTaskItem:
    """A media or archive URL a page linked, for the media queue (`--media-workers`): what a
    worker needs to fetch it and record its sightings."""

    url: str
    kind: str  # "media" or "archive"
    page_url: str | None
    via_tor: bool
    passwords: list[str] = field(default_factory=list)

    def row(self) -> dict[str, Any]:
        return {
            "url": self.url,
            "kind": self.kind,
            "page_url": self.page_url,
            "via_tor": self.via_tor,
            "passwords": list(self.passwords),
        }
