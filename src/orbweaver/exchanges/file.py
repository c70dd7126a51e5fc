"""A hash list in python-threatexchange's file format (`LocalFileSignalExchangeAPI`: one
`signal_type signal` a line, or bare signals of the configured type), from a file.

The file is the whole list each time: the fetch reads it all, and what a line no longer holds
is withdrawn (the service compares with what this exchange gave before)."""

from __future__ import annotations

from orbweaver.exchanges.base import ExchangeError
from orbweaver.exchanges.pytx import PytxClient
from orbweaver.exchanges.settings import ExchangeConfig

SNAPSHOT = True  # every fetch is the whole list


def client(config: ExchangeConfig, credentials: str = "") -> PytxClient:
    from pathlib import Path

    from threatexchange.exchanges.impl.file_api import (
        FileCollaborationConfig,
        LocalFileSignalExchangeAPI,
    )

    if not config.url or "://" in config.url:
        raise ExchangeError("a file exchange needs the path of its file (url)")
    path = Path(config.url)
    if not path.is_file():
        raise ExchangeError(f"no such file: {path}")
    collab = FileCollaborationConfig(
        name=config.bank,
        filename=str(path.resolve()),
        signal_type=config.signal_type or None,
    )
    return PytxClient(config, LocalFileSignalExchangeAPI.for_collab(collab), collab)
