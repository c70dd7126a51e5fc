"""The signals stage (see DESIGN.md): fingerprints of media.

Public surface: `compute_signals`, `hash_path`, `pdq_dihedral`, `hamming`, `MediaSignals`,
`SignalError`, and the signal-type registry (`get_signal_type`, `register_signal_type`,
`signal_types`, `SignalType`).
"""

from orbweaver.signals.compute import (
    DEFAULT_MAX_BYTES,
    MediaSignals,
    compute_signals,
    hash_path,
    pdq_dihedral,
)
from orbweaver.signals.decode import DEFAULT_MAX_PIXELS, PDQ_MIN_SIDE
from orbweaver.signals.errors import SignalError
from orbweaver.signals.pdq import DIHEDRAL_NAMES, hamming
from orbweaver.signals.registry import (
    PDQ,
    BytesSignalType,
    ImageSignalType,
    SignalType,
    get_signal_type,
    register_signal_type,
    signal_types,
)

__all__ = [
    "DEFAULT_MAX_BYTES",
    "DEFAULT_MAX_PIXELS",
    "DIHEDRAL_NAMES",
    "PDQ",
    "PDQ_MIN_SIDE",
    "BytesSignalType",
    "ImageSignalType",
    "MediaSignals",
    "SignalError",
    "SignalType",
    "compute_signals",
    "get_signal_type",
    "hamming",
    "hash_path",
    "pdq_dihedral",
    "register_signal_type",
    "signal_types",
]
