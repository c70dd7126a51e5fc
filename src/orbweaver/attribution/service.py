"""Who can remove content at a host: DNS → addresses → RDAP network/ASN → the chain → recipient.

Roles, from the site outwards:
- the network owner is the **content administrator** when it also runs the site (a provider
  record says so, or the domain's RDAP registrant is the same organisation), else the
  **hosting provider**;
- an owner whose ASN or range is configured as a CDN is a **CDN**: it answers for the site and
  forwards notices to the hidden origin, so it is the recipient;
- the domain's **registrar** is the last resort, reached by escalation.

Recipient: an operator override if one matches the domain or an address, else the first link of
the chain with a contact. Results are cached per host with a TTL (failures briefly), and a
provider is one row however many addresses and domains point to it.

Names and contacts are checked (`types.check_*`) where they enter, before any row is written:
from RDAP, a bad abuse address is dropped (the next link with a contact gets the notice) and a
bad name falls back to the entity's handle; in the operator's files, an entry with a bad name
or contact is skipped whole (as if absent). Each refusal is logged with its reason and recorded
as an `attribution.contact_refused` event.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import json
import logging
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from orbweaver.attribution.rdap import Entity, RdapClient, RdapError
from orbweaver.attribution.settings import AttributionSettings
from orbweaver.attribution.types import (
    MAX_HANDLE,
    Attribution,
    ChainLink,
    ContactError,
    check_email,
    check_name,
    check_webhook,
)
from orbweaver.clock import Clock
from orbweaver.net import GuardedClient, NetworkPolicy, ResolveError, Resolver
from orbweaver.store import EventKind, record_event, store_now
from orbweaver.store.models import AttributionCache, Provider, ProviderAlias, ProviderOverride

log = logging.getLogger(__name__)


def refuse_contact(session: Session, clock: Clock, source: str, exc: ContactError) -> None:
    """Say once, in the log and the event log, what was refused and why."""
    log.warning("attribution: refused from %s: %s", source, exc)
    record_event(
        session,
        clock,
        EventKind.ATTRIBUTION_CONTACT_REFUSED,
        subject_type="provider",
        payload={"source": source, "reason": str(exc)},
    )


def checked_entity(session: Session, clock: Clock, entity: Entity, source: str) -> Entity | None:
    """An RDAP entity with its name, handle and abuse address checked: a bad address is
    dropped, a bad name replaced by the handle; None when neither can name it."""
    handle = ""
    if entity.handle:
        try:
            handle = check_name(entity.handle, "RDAP handle", MAX_HANDLE)
        except ContactError as exc:
            refuse_contact(session, clock, source, exc)
    try:
        name = check_name(entity.name)
    except ContactError as exc:
        refuse_contact(session, clock, source, exc)
        if not handle:
            return None
        name = handle
    email = None
    if entity.abuse_email is not None:
        try:
            email = check_email(entity.abuse_email)
        except ContactError as exc:
            refuse_contact(session, clock, source, exc)
    domain = entity.domain if email else None
    return dataclasses.replace(entity, handle=handle, name=name, abuse_email=email, domain=domain)


_FILE_FIELDS: dict[str, Callable[[object], str]] = {
    "abuse_email": check_email,
    "webhook": check_webhook,
}


def checked_spec(spec: dict[str, Any], name_key: str) -> dict[str, Any]:
    """An entry of the providers or overrides file with its name and contacts checked; raises
    ContactError for the whole entry, so none of it is stored."""
    out = dict(spec)
    out[name_key] = check_name(spec.get(name_key))
    for key, check in _FILE_FIELDS.items():
        if spec.get(key):
            out[key] = check(spec[key])
    return out


class Attributor:
    """Resolves hosts to chains; one per process (it holds the RDAP bootstrap and HTTP client).

    RDAP goes through `policy` (the deployment's, from settings, unless given): an RDAP service
    outside the public internet must be allowed like any other address.
    """

    def __init__(
        self,
        clock: Clock,
        resolver: Resolver,
        settings: AttributionSettings | None = None,
        rdap: RdapClient | None = None,
        *,
        policy: NetworkPolicy | None = None,
    ) -> None:
        self.clock = clock
        self.resolver = resolver
        self.settings = settings or AttributionSettings()
        if rdap is None:
            if policy is None:
                from orbweaver.config import get_settings

                policy = NetworkPolicy.from_settings(get_settings())
            client = GuardedClient(policy, resolver, timeout=self.settings.rdap_timeout_s)
            rdap = RdapClient(self.settings.rdap_bootstrap_url, client)
        self.rdap = rdap
        self.cdn_asns = set(self.settings.cdn_asns)
        self.cdn_networks = [
            ipaddress.ip_network(n, strict=False) for n in self.settings.cdn_networks
        ]
        self._loaded = False

    def close(self) -> None:
        self.rdap.close()

    # -- configuration files -----------------------------------------------------------------

    def load_files(self, session: Session) -> None:
        """Known providers and operator overrides from the configured JSON files (idempotent)."""
        if self._loaded:
            return
        self._loaded = True
        if self.settings.providers_file:
            path = self.settings.providers_file
            for i, spec in enumerate(json.loads(Path(path).read_text())):
                try:
                    self._known_provider(session, checked_spec(spec, "name"))
                except ContactError as exc:
                    refuse_contact(session, self.clock, f"{path} entry {i}", exc)
        if self.settings.overrides_file:
            path = self.settings.overrides_file
            for i, spec in enumerate(json.loads(Path(path).read_text())):
                try:
                    add_override(session, self.clock, spec)
                except ContactError as exc:
                    refuse_contact(session, self.clock, f"{path} entry {i}", exc)

    def _known_provider(self, session: Session, spec: dict[str, Any]) -> None:
        p = upsert_provider(session, self.clock, spec["name"], spec.get("abuse_email"))
        p.service_type = spec.get("service_type") or p.service_type
        if spec.get("webhook"):
            p.webhook_url = spec["webhook"]
        p.digest = bool(spec.get("digest", p.digest))
        if spec.get("asn"):
            p.asn = int(spec["asn"])
            add_alias(session, p, "asn", str(spec["asn"]))
        if spec.get("network"):
            add_alias(session, p, "network", str(spec["network"]))
        if spec.get("abuse_email"):
            p.abuse_email = spec["abuse_email"]
        if spec.get("domain"):
            add_alias(session, p, "domain", str(spec["domain"]).lower())
        for site in spec.get("sites") or []:
            add_alias(session, p, "site", str(site).lower())
        if p.service_type == "cdn":
            if p.asn:
                self.cdn_asns.add(p.asn)
            if spec.get("network"):
                self.cdn_networks.append(ipaddress.ip_network(spec["network"], strict=False))

    # -- the lookup --------------------------------------------------------------------------

    def attribute(self, session: Session, host: str, network: str = "clear") -> Attribution:
        """The chain for `host`, from the cache when fresh."""
        self.load_files(session)
        host = host.lower().rstrip(".")
        if network == "tor" or host.endswith(".onion"):
            return Attribution(host=host, tor_only=True, error="onion service: no provider")
        now = store_now(self.clock)
        cached = session.scalar(select(AttributionCache).where(AttributionCache.host == host))
        if cached is not None and cached.expires_at > now:
            return _from_cache(cached)
        att = self._resolve(session, host)
        self._apply_override(session, att)
        ttl = (
            self.settings.attribution_error_ttl_s
            if att.error
            else (self.settings.attribution_cache_ttl_s)
        )
        if cached is None:
            cached = AttributionCache(host=host)
            session.add(cached)
        cached.resolved_at = now
        cached.expires_at = now + timedelta(seconds=ttl)
        cached.addresses = att.addresses
        cached.chain = [link.as_dict() for link in att.chain]
        cached.recipient_provider_id = att.recipient_id
        cached.tor_only = att.tor_only
        cached.error = att.error
        cached.country = att.country or None
        session.flush()
        record_event(
            session,
            self.clock,
            EventKind.ATTRIBUTION_RESOLVED,
            subject_type="host",
            payload={
                "host": host,
                "recipient_id": att.recipient_id,
                "chain": cached.chain,
                "error": att.error,
            },
        )
        return att

    def _resolve(self, session: Session, host: str) -> Attribution:
        att = Attribution(host=host)
        try:
            att.addresses = self.resolver.addresses(host)
            nets = [self.rdap.ip(a) for a in att.addresses[:4]]
        except (ResolveError, RdapError, ValueError) as exc:
            att.error = str(exc)
            return att
        att.country = nets[0].country if nets else ""
        links: list[ChainLink] = []
        for net in nets:
            owner = net.owner and checked_entity(session, self.clock, net.owner, f"RDAP {net.cidr}")
            if owner is None:
                continue
            link = self._network_link(session, host, owner, net.asn, net.cidr, att)
            if all(existing.provider_id != link.provider_id for existing in links):
                links.append(link)
        links.sort(key=lambda link: link.role != "cdn")
        registrar = self._registrar(session, host)
        if registrar is not None and all(r.provider_id != registrar.provider_id for r in links):
            links.append(registrar)
        att.chain = links
        first = next((link for link in links if link.contact), None)
        att.recipient_id = first.provider_id if first else None
        if first is None:
            att.error = "no provider with an abuse contact"
        return att

    def _network_link(
        self,
        session: Session,
        host: str,
        owner: Entity,
        asn: int | None,
        cidr: str,
        att: Attribution,
    ) -> ChainLink:
        p = self._provider_for(session, owner)
        if asn:
            p.asn = p.asn or asn
            add_alias(session, p, "asn", str(asn))
            att.asn = att.asn or asn
        add_alias(session, p, "network", cidr)
        if self._is_cdn(asn, att.addresses):
            role = "cdn"
            p.service_type = "cdn"
        elif p.service_type == "content_administrator" or _runs_site(session, p, host):
            role = "content_administrator"
        else:
            role = "hosting_provider"
        return ChainLink(role, p.id, p.name, p.webhook_url or p.abuse_email)

    def _registrar(self, session: Session, host: str) -> ChainLink | None:
        for name in _domain_candidates(host):
            try:
                info = self.rdap.domain(name)
            except RdapError:
                continue
            registrar = info.registrar and checked_entity(
                session, self.clock, info.registrar, f"RDAP domain {name}"
            )
            if registrar is None:
                return None
            p = self._provider_for(session, registrar, service_type="registrar")
            return ChainLink("registrar", p.id, p.name, p.webhook_url or p.abuse_email)
        return None

    def _provider_for(
        self, session: Session, entity: Entity, service_type: str = "hosting_provider"
    ) -> Provider:
        """One provider per organisation: found by RDAP handle, else by name, else created."""
        alias = session.scalar(
            select(ProviderAlias).where(
                ProviderAlias.kind == "handle", ProviderAlias.value == entity.handle
            )
        )
        p = session.get(Provider, alias.provider_id) if alias else None
        if p is None:
            p = upsert_provider(
                session, self.clock, entity.name, entity.abuse_email, service_type=service_type
            )
            if entity.handle:
                add_alias(session, p, "handle", entity.handle)
        if entity.abuse_email and not p.abuse_email:
            p.abuse_email = entity.abuse_email
        if entity.domain:
            add_alias(session, p, "domain", entity.domain)
        return p

    def _is_cdn(self, asn: int | None, addresses: list[str]) -> bool:
        if asn is not None and asn in self.cdn_asns:
            return True
        ips = [ipaddress.ip_address(a) for a in addresses]
        return any(
            ip in net for ip in ips for net in self.cdn_networks if ip.version == net.version
        )

    def _apply_override(self, session: Session, att: Attribution) -> None:
        """An operator's override puts its provider first and makes it the recipient."""
        rule = match_override(session, att.host, att.addresses)
        if rule is None:
            return
        p = session.get_one(Provider, rule.provider_id)
        link = ChainLink("override", p.id, p.name, p.webhook_url or p.abuse_email)
        att.chain = [link, *[c for c in att.chain if c.provider_id != p.id]]
        att.recipient_id = p.id
        att.override = True
        att.error = None


def _from_cache(row: AttributionCache) -> Attribution:
    return Attribution(
        host=row.host,
        addresses=list(row.addresses),
        chain=[ChainLink.from_dict(c) for c in row.chain],
        recipient_id=row.recipient_provider_id,
        tor_only=row.tor_only,
        error=row.error,
        country=row.country or "",
    )


def _domain_candidates(host: str) -> list[str]:
    """The registered domain first (bundled public suffix list, no download), then parents."""
    import tldextract

    ex = tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None)
    found = ex(host)
    labels = host.split(".")
    parents = [".".join(labels[i:]) for i in range(len(labels) - 1)]
    registered = found.top_domain_under_public_suffix if found.suffix else ""
    return (
        [registered, *[p for p in reversed(parents) if p != registered]]
        if registered
        else (list(reversed(parents)))
    )


def _runs_site(session: Session, p: Provider, host: str) -> bool:
    """The provider declared the site (or its parent domain) as its own."""
    labels = host.split(".")
    names = [".".join(labels[i:]) for i in range(len(labels) - 1)]
    return (
        session.scalar(
            select(ProviderAlias.id).where(
                ProviderAlias.provider_id == p.id,
                ProviderAlias.kind == "site",
                ProviderAlias.value.in_(names),
            )
        )
        is not None
    )


def upsert_provider(
    session: Session,
    clock: Clock,
    name: str,
    abuse_email: str | None,
    *,
    service_type: str = "hosting_provider",
) -> Provider:
    now = clock.now()
    p = session.scalar(select(Provider).where(Provider.name == name))
    if p is None:
        p = Provider(
            name=name,
            service_type=service_type,
            abuse_email=abuse_email,
            created_at=now,
            updated_at=now,
        )
        session.add(p)
        session.flush()
    return p


def add_alias(session: Session, p: Provider, kind: str, value: str) -> None:
    exists = session.scalar(
        select(ProviderAlias.id).where(ProviderAlias.kind == kind, ProviderAlias.value == value)
    )
    if exists is None:
        session.add(ProviderAlias(provider_id=p.id, kind=kind, value=value))
        session.flush()


def add_override(session: Session, clock: Clock, spec: dict[str, Any]) -> ProviderOverride:
    """`{"domain": "x.test" | "network": "127.1.0.0/16", "provider": name, "abuse_email": ...,
    "webhook": ..., "note": ...}`; replaces an earlier rule for the same pattern. Raises
    ContactError (and stores nothing) for a bad provider name or contact."""
    spec = checked_spec(spec, "provider")
    kind = "domain" if spec.get("domain") else "network"
    pattern = str(spec.get("domain") or spec["network"]).lower()
    p = upsert_provider(session, clock, spec["provider"], spec.get("abuse_email"))
    if spec.get("abuse_email"):
        p.abuse_email = spec["abuse_email"]
    if spec.get("webhook"):
        p.webhook_url = spec["webhook"]
    rule = session.scalar(
        select(ProviderOverride).where(
            ProviderOverride.kind == kind, ProviderOverride.pattern == pattern
        )
    )
    if rule is None:
        rule = ProviderOverride(
            kind=kind, pattern=pattern, provider_id=p.id, created_at=clock.now()
        )
        session.add(rule)
    rule.provider_id = p.id
    rule.note = spec.get("note", "")
    session.execute(  # the cached chains no longer hold
        update(AttributionCache).values(expires_at=store_now(clock))
    )
    session.flush()
    return rule


def match_override(session: Session, host: str, addresses: list[str]) -> ProviderOverride | None:
    """Domain rules match the host and its parents (most specific wins), then network rules."""
    labels = host.split(".")
    for i in range(len(labels)):
        rule = session.scalar(
            select(ProviderOverride).where(
                ProviderOverride.kind == "domain", ProviderOverride.pattern == ".".join(labels[i:])
            )
        )
        if rule is not None:
            return rule
    ips = [ipaddress.ip_address(a) for a in addresses]
    rules = session.scalars(select(ProviderOverride).where(ProviderOverride.kind == "network"))
    best: tuple[int, ProviderOverride] | None = None
    for rule in rules:
        net = ipaddress.ip_network(rule.pattern, strict=False)
        if any(ip.version == net.version and ip in net for ip in ips) and (
            best is None or net.prefixlen > best[0]
        ):
            best = (net.prefixlen, rule)
    return best[1] if best else None
