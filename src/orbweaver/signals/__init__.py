"""The signals stage (docs/architecture.md): fingerprints of media, and the types they come in.

Public surface: computing (`compute_signals`, `compute_exact_signals`, `exact_hashes`,
`hash_path`, `pdq_dihedral`, `MediaSignals`, `SignalError`; `decode_cost`, what a decode will
materialise, read from the header), what may be decoded at all (`ALLOWED_FORMATS`,
`DEFAULT_MAX_PIXELS`, `probe_image` and its `ImageHeader`), comparing (`hamming`), archives
(`unpack` with its `ArchiveLimits` and errors), and the
signal-type registry every stage looks types up in (`get_signal_type`, `signal_types`,
`register_signal_type`, `unregister_signal_type`; `SignalType` and its kinds, the index
interface `SignalIndex` with `ExactIndex`, `LinearIndex` and `IndexLoader`, `signal_value`),
the PDQ index (`PDQIndex`: it brings numba, so it loads with the first matcher), the crawl's
dihedral hashing (`compute_signals_dihedral`) and `limit_blas_threads`; videos: `hash_video`
with `VideoLimits` (PyAV, video.py), the vPDQ type's features, text form, brute-force
comparison (`compare_vpdq`) and per-video index (`VpdqIndex`), `is_video_mime`.

Nothing is imported until used (`orbweaver._lazy`), so importing the package stays cheap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from orbweaver._lazy import lazy_exports

if TYPE_CHECKING:
    from orbweaver.signals.archives import (
        ArchiveBomb,
        ArchiveError,
        ArchiveLimits,
        ArchivePasswordError,
        ToolTimeout,
        unpack,
    )
    from orbweaver.signals.base import (
        BytesSignalType,
        ExactIndex,
        ImageSignalType,
        IndexLoader,
        LinearIndex,
        Query,
        SignalIndex,
        SignalType,
        signal_value,
    )
    from orbweaver.signals.blas import limit_blas_threads
    from orbweaver.signals.compute import (
        DEFAULT_MAX_BYTES,
        MediaSignals,
        compute_exact_signals,
        compute_signals,
        compute_signals_dihedral,
        hash_path,
        pdq_dihedral,
    )
    from orbweaver.signals.decode import (
        ALLOWED_FORMATS,
        DEFAULT_MAX_PIXELS,
        PDQ_MIN_SIDE,
        DecodeCost,
        ImageHeader,
        decode_cost,
        probe_image,
    )
    from orbweaver.signals.errors import SignalError
    from orbweaver.signals.pdq import DIHEDRAL_NAMES, hamming
    from orbweaver.signals.pdq_index import PDQIndex
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
    from orbweaver.signals.sniff import VIDEO_MIME_TYPES, is_video_mime, sniff_mime
    from orbweaver.signals.types.crypto import exact_hashes
    from orbweaver.signals.types.vpdq import (
        VPDQ,
        VideoHit,
        VpdqComparison,
        VpdqFeature,
        VpdqIndex,
        compare_vpdq,
        format_vpdq,
        parse_vpdq,
    )
    from orbweaver.signals.video import ALLOWED_CONTAINERS, VideoHash, VideoLimits, hash_video
else:
    __getattr__, __dir__ = lazy_exports(
        __name__,
        {
            ".archives": [
                "ArchiveBomb",
                "ArchiveError",
                "ArchiveLimits",
                "ArchivePasswordError",
                "ToolTimeout",
                "unpack",
            ],
            ".base": [
                "BytesSignalType",
                "ExactIndex",
                "ImageSignalType",
                "IndexLoader",
                "LinearIndex",
                "Query",
                "SignalIndex",
                "SignalType",
                "signal_value",
            ],
            ".blas": ["limit_blas_threads"],
            ".compute": [
                "DEFAULT_MAX_BYTES",
                "MediaSignals",
                "compute_exact_signals",
                "compute_signals",
                "compute_signals_dihedral",
                "decode_cost",
                "hash_path",
                "pdq_dihedral",
            ],
            ".decode": [
                "ALLOWED_FORMATS",
                "DEFAULT_MAX_PIXELS",
                "PDQ_MIN_SIDE",
                "DecodeCost",
                "ImageHeader",
                "decode_cost",
                "probe_image",
            ],
            ".errors": ["SignalError"],
            ".pdq": ["DIHEDRAL_NAMES", "hamming"],
            ".pdq_index": ["PDQIndex"],
            ".registry": [
                "MD5",
                "PDQ",
                "SHA1",
                "SHA256",
                "CryptoSignalType",
                "get_signal_type",
                "register_signal_type",
                "signal_types",
                "unregister_signal_type",
            ],
            ".sniff": ["VIDEO_MIME_TYPES", "is_video_mime", "sniff_mime"],
            ".types.crypto": ["exact_hashes"],
            ".types.vpdq": [
                "VPDQ",
                "VideoHit",
                "VpdqComparison",
                "VpdqFeature",
                "VpdqIndex",
                "compare_vpdq",
                "format_vpdq",
                "parse_vpdq",
            ],
            ".video": ["ALLOWED_CONTAINERS", "VideoHash", "VideoLimits", "hash_video"],
        },
    )

__all__ = [
    "ALLOWED_CONTAINERS",
    "ALLOWED_FORMATS",
    "DEFAULT_MAX_BYTES",
    "DEFAULT_MAX_PIXELS",
    "DIHEDRAL_NAMES",
    "MD5",
    "PDQ",
    "PDQ_MIN_SIDE",
    "SHA1",
    "SHA256",
    "VIDEO_MIME_TYPES",
    "VPDQ",
    "ArchiveBomb",
    "ArchiveError",
    "ArchiveLimits",
    "ArchivePasswordError",
    "BytesSignalType",
    "CryptoSignalType",
    "DecodeCost",
    "ExactIndex",
    "ImageHeader",
    "ImageSignalType",
    "IndexLoader",
    "LinearIndex",
    "MediaSignals",
    "PDQIndex",
    "Query",
    "SignalError",
    "SignalIndex",
    "SignalType",
    "ToolTimeout",
    "VideoHash",
    "VideoHit",
    "VideoLimits",
    "VpdqComparison",
    "VpdqFeature",
    "VpdqIndex",
    "compare_vpdq",
    "compute_exact_signals",
    "compute_signals",
    "compute_signals_dihedral",
    "decode_cost",
    "exact_hashes",
    "format_vpdq",
    "get_signal_type",
    "hamming",
    "hash_path",
    "hash_video",
    "is_video_mime",
    "limit_blas_threads",
    "parse_vpdq",
    "pdq_dihedral",
    "probe_image",
    "register_signal_type",
    "signal_types",
    "signal_value",
    "sniff_mime",
    "unpack",
    "unregister_signal_type",
]
