"""The signal-type registry: the one list of fingerprint types the product knows.

Banks (CSV import and export), the matcher (one index per type), the crawl's and the Shield's
signal computation all look types up here by name, never by spelling them out, so a new type
(vPDQ, a licensed PhotoDNA plug-in) is one module and one `register_signal_type` call. The
built-ins are registered on import, in the order matches are reported: sha256, sha1, md5, pdq,
vpdq (videos' frame hashes, `types/vpdq.py`).
"""

from __future__ import annotations

from collections.abc import Mapping

from orbweaver.signals.base import NAME_RE, SignalType
from orbweaver.signals.types.crypto import MD5, SHA1, SHA256, CryptoSignalType
from orbweaver.signals.types.pdq import PDQ, PdqSignalType
from orbweaver.signals.types.vpdq import VPDQ, VpdqSignalType

__all__ = [
    "MD5",
    "PDQ",
    "SHA1",
    "SHA256",
    "VPDQ",
    "CryptoSignalType",
    "PdqSignalType",
    "VpdqSignalType",
    "get_signal_type",
    "register_signal_type",
    "signal_types",
    "unregister_signal_type",
]

_REGISTRY: dict[str, SignalType] = {}


def register_signal_type(signal_type: SignalType) -> None:
    """Make a signal type known by its name (replacing one of the same name).

    Register at start-up, before matchers are built: a matcher indexes the types registered
    when it was created, and skips bank entries of any other type.
    """
    if not isinstance(signal_type, SignalType):
        raise TypeError(f"{signal_type!r} is not a SignalType")
    if not NAME_RE.fullmatch(signal_type.name):
        raise ValueError(
            f"signal type name {signal_type.name!r}: lower case letters, digits and _, "
            "at most 16 characters, starting with a letter"
        )
    _REGISTRY[signal_type.name] = signal_type


def unregister_signal_type(name: str) -> None:
    """Forget a type (tests, and a plug-in being unloaded); nothing if it was not known."""
    _REGISTRY.pop(name, None)


def get_signal_type(name: str) -> SignalType:
    """The registered type called `name`; KeyError listing the known names otherwise."""
    try:
        return _REGISTRY[name]
    except KeyError:
        raise KeyError(f"unknown signal type {name!r}; known: {', '.join(_REGISTRY)}") from None


def signal_types() -> Mapping[str, SignalType]:
    """All registered types, by name, in registration order (a copy)."""
    return dict(_REGISTRY)


for _builtin in (SHA256, SHA1, MD5, PDQ, VPDQ):
    register_signal_type(_builtin)
