"""RDAP (RFC 9083) for the world's networks, ASNs, domains and entities, with IANA-style bootstrap.

Bootstrap files follow RFC 9224 (`ipv4.json`, `asn.json`, `dns.json`, plus `ipv6.json` and
`object-tags.json` so that whoisit, which insists on all five, can load them). `whoisit.json` is the
same data in whoisit's own save format: `whoisit.load_bootstrap_data(text, allow_insecure=True)`.
"""

from __future__ import annotations

import time
from typing import Any

from orbweaver.sim.catalogue import Catalogue, Party
from orbweaver.sim.http import Request, Response, json_response

RDAP_JSON = "application/rdap+json"


def bootstrap_files(base_url: str) -> dict[str, dict[str, Any]]:
    """RFC 9224 registries that send every world query to this server."""

    def registry(entries: list[list[list[str]]]) -> dict[str, Any]:
        return {
            "version": "1.0",
            "publication": "2018-01-01T00:00:00Z",
            "description": "orbweaver simulated world",
            "services": entries,
        }

    urls = [base_url]
    return {
        "ipv4.json": registry([[["127.0.0.0/8"], urls]]),
        "ipv6.json": registry([[["fd00::/8"], urls]]),
        "asn.json": registry([[["64512-65534"], urls]]),
        "dns.json": registry([[["test"], urls]]),
        "object-tags.json": registry([[["sim@orbweaver.test"], ["SIM"], urls]]),
    }


def whoisit_bootstrap(base_url: str) -> dict[str, Any]:
    files = bootstrap_files(base_url)
    data: dict[str, Any] = {"timestamp": int(time.time())}
    for name, key in (
        ("asn", "asn.json"),
        ("dns", "dns.json"),
        ("ipv4", "ipv4.json"),
        ("ipv6", "ipv6.json"),
        ("object", "object-tags.json"),
    ):
        data[name] = files[key]
    return data


def vcard(name: str, email: str | None = None, kind: str = "org") -> list[Any]:
    props: list[Any] = [
        ["version", {}, "text", "4.0"],
        ["fn", {}, "text", name],
        ["kind", {}, "text", kind],
    ]
    if email:
        props.append(["email", {}, "text", email])
    return ["vcard", props]


def entity(party: Party, base: str, roles: list[str], with_abuse: bool = True) -> dict[str, Any]:
    """The organisation entity, with its abuse contact nested as role "abuse"."""
    out: dict[str, Any] = {
        "objectClassName": "entity",
        "handle": party.handle,
        "roles": roles,
        "vcardArray": vcard(party.name),
        "links": [
            {
                "value": f"{base}entity/{party.handle}",
                "rel": "self",
                "href": f"{base}entity/{party.handle}",
                "type": RDAP_JSON,
            }
        ],
    }
    if with_abuse:
        out["entities"] = [abuse_entity(party, base)]
    return out


def abuse_entity(party: Party, base: str) -> dict[str, Any]:
    return {
        "objectClassName": "entity",
        "handle": party.abuse_handle,
        "roles": ["abuse"],
        "vcardArray": vcard(f"{party.name} Abuse", party.abuse_email, "group"),
        "links": [
            {
                "value": f"{base}entity/{party.abuse_handle}",
                "rel": "self",
                "href": f"{base}entity/{party.abuse_handle}",
                "type": RDAP_JSON,
            }
        ],
    }


def common(obj: dict[str, Any]) -> dict[str, Any]:
    obj["rdapConformance"] = ["rdap_level_0"]
    obj["notices"] = [
        {"title": "Simulated", "description": ["orbweaver simulated world; not real data"]}
    ]
    return obj


class Rdap:
    def __init__(self, cat: Catalogue, base_url: str) -> None:
        self.cat = cat
        self.base = base_url  # ends with "/rdap/"
        self.bootstrap_base = base_url.replace("/rdap/", "/bootstrap/")

    async def handle(self, req: Request) -> Response:
        path = req.path
        if path.startswith("/bootstrap/"):
            name = path[len("/bootstrap/") :]
            if name == "whoisit.json":
                return json_response(whoisit_bootstrap(self.base))
            files = bootstrap_files(self.base)
            return json_response(files[name]) if name in files else self.error(404)
        if not path.startswith("/rdap/"):
            return self.error(404)
        kind, _, value = path[len("/rdap/") :].partition("/")
        found = {
            "ip": self.ip,
            "autnum": self.autnum,
            "domain": self.domain,
            "entity": self.entity,
        }.get(kind, lambda v: None)(value)
        if found is None:
            return self.error(404)
        resp = json_response(common(found))
        resp.content_type = RDAP_JSON
        return resp

    def error(self, code: int) -> Response:
        resp = json_response(common({"errorCode": code, "title": "Not Found"}), code)
        resp.content_type = RDAP_JSON
        return resp

    def _party_for_ip(self, value: str) -> Party | None:
        import ipaddress

        try:
            net = ipaddress.ip_network(value, strict=False)
        except ValueError:
            return None
        for party in self.cat.parties:
            if net.subnet_of(party.network):  # type: ignore[arg-type]
                return party
        return None

    def ip(self, value: str) -> dict[str, Any] | None:
        party = self._party_for_ip(value)
        if party is None:
            return None
        n = party.network
        return {
            "objectClassName": "ip network",
            "handle": party.network_handle,
            "startAddress": str(n.network_address),
            "endAddress": str(n.broadcast_address),
            "ipVersion": "v4",
            "name": f"{party.slug.upper()}-NET",
            "type": "ALLOCATED PA",
            "country": party.country,
            "cidr0_cidrs": [{"v4prefix": str(n.network_address), "length": n.prefixlen}],
            "entities": [entity(party, self.base, ["registrant"])],
            "links": [
                {
                    "value": f"{self.base}ip/{value}",
                    "rel": "self",
                    "href": f"{self.base}ip/{n}",
                    "type": RDAP_JSON,
                }
            ],
            "arin_originas0_originautnums": [party.asn],
        }

    def autnum(self, value: str) -> dict[str, Any] | None:
        try:
            asn = int(value.upper().removeprefix("AS"))
        except ValueError:
            return None
        for party in self.cat.parties:
            if party.asn == asn:
                return {
                    "objectClassName": "autnum",
                    "handle": f"AS{asn}",
                    "startAutnum": asn,
                    "endAutnum": asn,
                    "name": f"{party.slug.upper()}-AS",
                    "type": "DIRECT ALLOCATION",
                    "country": party.country,
                    "entities": [entity(party, self.base, ["registrant"])],
                }
        return None

    def domain(self, value: str) -> dict[str, Any] | None:
        name = value.lower().rstrip(".")
        party = next((p for p in self.cat.parties if p.domain == name), None)
        site = self.cat.sites.get(name)
        if site is not None and not site.onion:
            registrar, registrant = site.registrar, site.host
        elif party is not None:
            registrar, registrant = party.registrar or party, party
        else:
            return None
        entities = []
        if registrar is not None:
            entities.append(entity(registrar, self.base, ["registrar"]))
        if registrant is not None and site is None:
            entities.append(entity(registrant, self.base, ["registrant"], with_abuse=False))
        return {
            "objectClassName": "domain",
            "handle": f"SIM-DOM-{name.upper().replace('.', '-')}",
            "ldhName": name,
            "status": ["active"],
            "nameservers": [{"objectClassName": "nameserver", "ldhName": "ns1.sim.test"}],
            "entities": entities,
            "events": [{"eventAction": "registration", "eventDate": "2017-06-01T00:00:00Z"}],
        }

    def entity(self, value: str) -> dict[str, Any] | None:
        handle = value.upper()
        for party in self.cat.parties:
            if party.handle == handle:
                return entity(party, self.base, ["registrant"])
            if party.abuse_handle == handle:
                return abuse_entity(party, self.base)
        return None
