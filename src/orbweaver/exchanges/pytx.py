"""Any python-threatexchange `SignalExchangeAPI` as an exchange client: its `fetch_iter`
pages, its checkpoint stored as JSON, its records converted by its own
`naive_convert_to_signal_type`, its `report_opinion` for feedback.

The StopNCII, ThreatExchange and file kinds are this with their API class; NCMEC has its own
module (`ncmec`), since that client needs our base URL, network policy and clock.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from orbweaver.exchanges.base import (
    ExchangeError,
    FeedbackRefused,
    Fingerprint,
    Page,
    Submission,
    SubmissionRefused,
    Update,
    Vote,
)
from orbweaver.exchanges.settings import ExchangeConfig


def _pytx_signal_types() -> dict[str, tuple[type[Any], str]]:
    """python-threatexchange's signal types we match → (its class, our signal type)."""
    from threatexchange.signal_type.md5 import VideoMD5Signal
    from threatexchange.signal_type.pdq.signal import PdqSignal

    return {
        PdqSignal.get_name(): (PdqSignal, "pdq"),
        VideoMD5Signal.get_name(): (VideoMD5Signal, "md5"),
    }


class PytxClient:
    """One python-threatexchange API object (already configured with its collaboration and
    credentials) as an exchange client."""

    def __init__(self, config: ExchangeConfig, api: Any, collab: Any) -> None:
        self.config = config
        self.api = api
        self.collab = collab
        self.types = _pytx_signal_types()

    def pages(self, checkpoint: dict[str, Any], now: datetime) -> Iterator[Page]:
        import dacite

        state = None
        if checkpoint.get("state") is not None:
            try:
                state = dacite.from_dict(
                    self.api.get_checkpoint_cls(),
                    checkpoint["state"],
                    config=dacite.Config(check_types=False),
                )
            except (dacite.DaciteError, TypeError) as exc:
                raise ExchangeError(f"the stored checkpoint cannot be read: {exc}") from None
        classes = [cls for cls, _ in self.types.values()]
        try:
            for delta in self.api.fetch_iter(classes, state):
                updates, skipped = self._updates(delta.updates)
                yield Page(updates, {"state": _as_json(delta.checkpoint)}, skipped=skipped)
        except ExchangeError:
            raise
        except Exception as exc:  # the library's clients raise plain exceptions
            raise ExchangeError(f"{type(exc).__name__}: {str(exc)[:300]}") from None
        yield Page([], {"state": checkpoint.get("state")}, complete=True)

    def _updates(self, raw: dict[Any, Any]) -> tuple[list[Update], list[str]]:
        out: list[Update] = []
        skipped: list[str] = []
        classes = [cls for cls, _ in self.types.values()]
        for key, value in raw.items():
            external = _key(key)
            if value is None:
                out.append(Update(external, deleted=True))
                continue
            converted = self.api.naive_convert_to_signal_type(classes, self.collab, {key: value})
            prints: list[Fingerprint] = []
            tags: set[str] = set()
            for signal_cls, by_signal in converted.items():
                ours = self.types.get(signal_cls.get_name())
                if ours is None:
                    skipped.append(f"{external}: {signal_cls.get_name()}")
                    continue
                for signal, metadata in by_signal.items():
                    prints.append(Fingerprint(ours[1], signal, signal_cls.get_name()))
                    for opinion in metadata.get_as_opinions():
                        tags.update(opinion.tags)
            if not prints:
                skipped.append(f"{external}: no signal type we match")
                continue
            out.append(
                Update(
                    external,
                    tuple(prints),
                    category=self.config.category,
                    tags=tuple(sorted(tags)),
                )
            )
        return out, skipped

    def send_vote(self, vote: Vote) -> bool:
        from threatexchange.exchanges.fetch_state import SignalOpinion, SignalOpinionCategory

        by_name = {name: cls for name, (cls, _) in self.types.items()}
        signal_cls = by_name.get(vote.exchange_type)
        if signal_cls is None:
            raise FeedbackRefused(f"no feedback on {vote.exchange_type} here")
        signal = vote.external_id.split("|", 1)[-1]
        category = (
            SignalOpinionCategory.POSITIVE_CLASS
            if vote.up
            else SignalOpinionCategory.NEGATIVE_CLASS
        )
        tags = set() if vote.up or not vote.reason else {vote.reason}
        try:
            self.api.report_opinion(signal_cls, signal, SignalOpinion(True, category, tags))
        except NotImplementedError:
            return False
        except Exception as exc:
            raise ExchangeError(f"{type(exc).__name__}: {str(exc)[:300]}") from None
        return True

    def submit(self, submission: Submission) -> str:
        raise SubmissionRefused(
            f"a {self.config.kind} exchange takes no uploads here (only NCMEC-shaped ones do)"
        )


def _key(key: Any) -> str:
    if isinstance(key, tuple):
        return "|".join(str(k) for k in key)
    return str(key)


def _as_json(checkpoint: Any) -> Any:
    if dataclasses.is_dataclass(checkpoint) and not isinstance(checkpoint, type):
        return json_safe(dataclasses.asdict(checkpoint))
    return None


def json_safe(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [json_safe(v) for v in value]
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    return str(value)
