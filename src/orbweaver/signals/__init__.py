"""The signals stage (docs/architecture.md): fingerprints of media, and the types they come in.

Public surface: archives (`unpack` with `ArchiveLimits`, `ArchiveError`), computing
(`compute_signals`, `compute_exact_signals`, `exact_hashes`,
`hash_path`, `pdq_dihedral`, `MediaSignals`, `SignalError`), comparing (`hamming`), and the
signal-type registry every stage looks types up in (`get_signal_type`, `signal_types`,
`register_signal_type`, `unregister_signal_type`; `SignalType` and its kinds, the index
interface `SignalIndex` with `ExactIndex` and `LinearIndex`, `signal_value`). The PDQ index
itself is `orbweaver.signals.pdq_index`, loaded with the first matcher (it brings numba).
"""

from orbweaver.signals.archives import ArchiveError, ArchiveLimits, unpack
from orbweaver.signals.base import (
    BytesSignalType,
    ExactIndex,
    ImageSignalType,
    LinearIndex,
    Query,
    SignalIndex,
    SignalType,
    signal_value,
)
from orbweaver.signals.compute import (
    DEFAULT_MAX_BYTES,
    MediaSignals,
    compute_exact_signals,
    compute_signals,
    hash_path,
    pdq_dihedral,
)
from orbweaver.signals.decode import DEFAULT_MAX_PIXELS, PDQ_MIN_SIDE
from orbweaver.signals.errors import SignalError
from orbweaver.signals.pdq import DIHEDRAL_NAMES, hamming
from orbweaver.signals.registry import (
    MD5,
    PDQ,
    SHA1,
    SHA256,
    CryptoSignalType,
    get_signal_type,
    register_signal_type,
    signal_types,
    unregister_signal_type,
)
from orbweaver.signals.types.crypto import exact_hashes

__all__ = [
    "DEFAULT_MAX_BYTES",
    "DEFAULT_MAX_PIXELS",
    "DIHEDRAL_NAMES",
    "MD5",
    "PDQ",
    "PDQ_MIN_SIDE",
    "SHA1",
    "SHA256",
    "ArchiveError",
    "ArchiveLimits",
    "BytesSignalType",
    "CryptoSignalType",
    "ExactIndex",
    "ImageSignalType",
    "LinearIndex",
    "MediaSignals",
    "Query",
    "SignalError",
    "SignalIndex",
    "SignalType",
    "compute_exact_signals",
    "compute_signals",
    "exact_hashes",
    "get_signal_type",
    "hamming",
    "hash_path",
    "pdq_dihedral",
    "register_signal_type",
    "signal_types",
    "signal_value",
    "unpack",
    "unregister_signal_type",
]
