"""Meta's ThreatExchange (Graph API) through python-threatexchange
(`FBThreatExchangeSignalExchangeAPI`): one privacy group's descriptors, their tags and
owners; our feedback goes back as opinions. Credentials: the access token `app-id|secret`.
It reaches graph.facebook.com through the library's HTTP client (not our resolver)."""

from __future__ import annotations

from orbweaver.exchanges.base import ExchangeError
from orbweaver.exchanges.pytx import PytxClient
from orbweaver.exchanges.settings import ExchangeConfig


def client(config: ExchangeConfig, credentials: str) -> PytxClient:
    from threatexchange.exchanges.impl.fb_threatexchange_api import (
        FBThreatExchangeCollabConfig,
        FBThreatExchangeCredentials,
        FBThreatExchangeSignalExchangeAPI,
    )

    if not config.privacy_group:
        raise ExchangeError("ThreatExchange needs the privacy group (privacy_group)")
    creds = FBThreatExchangeCredentials._from_str(credentials)
    if creds is None:
        raise ExchangeError("ThreatExchange needs an access token app-id|secret")
    collab = FBThreatExchangeCollabConfig(name=config.bank, privacy_group=config.privacy_group)
    return PytxClient(config, FBThreatExchangeSignalExchangeAPI.for_collab(collab, creds), collab)
