"""StopNCII.org's hash API through python-threatexchange (`StopNCIISignalExchangeAPI`):
PDQ and video MD5 hashes with partners' feedback as tags; our feedback goes back as
python-threatexchange's opinions. Credentials: its string `function_key,subscription_key`
(optionally `,base_url`). It reaches StopNCII's own public endpoint through the library's
HTTP client (not our resolver)."""

from __future__ import annotations

from orbweaver.exchanges.base import ExchangeError
from orbweaver.exchanges.pytx import PytxClient
from orbweaver.exchanges.settings import ExchangeConfig


def client(config: ExchangeConfig, credentials: str) -> PytxClient:
    from threatexchange.exchanges.collab_config import CollaborationConfigBase
    from threatexchange.exchanges.impl.stop_ncii_api import (
        StopNCIICredentials,
        StopNCIISignalExchangeAPI,
    )

    try:
        creds = StopNCIICredentials._from_str(credentials)
    except ValueError as exc:
        raise ExchangeError(f"StopNCII credentials: {exc}") from None
    collab = CollaborationConfigBase(name=config.bank, enabled=True, api="stop_ncii")
    return PytxClient(config, StopNCIISignalExchangeAPI.for_collab(collab, creds), collab)
