"""The Tor gateway: an HTTP forward proxy, as Privoxy in front of Tor would be.

It is the only way to reach `.onion` sites (they have no DNS name and no address). Like a Tor exit,
it also forwards requests for the world's clear-web domains; any other target (a name the world does
not hold, an IP literal, anything outside the world) is refused with 403, so the gateway can never
be used to reach beyond the world. Absolute-form requests (`GET http://x.onion/ HTTP/1.1`) and
CONNECT tunnels (`CONNECT x.onion:80`) are both accepted.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from orbweaver.sim.catalogue import Catalogue, Site
from orbweaver.sim.http import Request, Response, text_response

SiteHandler = Callable[[Request, Site], Awaitable[Response]]


class TorGateway:
    def __init__(self, cat: Catalogue, serve_site: SiteHandler) -> None:
        self.cat = cat
        self.serve_site = serve_site
        self.requests = 0

    def _site(self, host: str) -> Site | None:
        return self.cat.sites.get(host.lower().rstrip("."))

    async def handle(self, req: Request) -> Response:
        self.requests += 1
        site = self._site(req.host)
        if req.method == "CONNECT":
            if site is None:
                return text_response(
                    "tunnel target refused\n",
                    403,
                )
            return Response(200, tunnel=self._tunnel(site))
        if not req.target.startswith("http://"):
            return text_response("this is a proxy: send absolute-form requests\n", 400)
        if site is None:
            return text_response(
                f"proxy refused: {req.host} is not reachable through Tor here\n", 403
            )
        resp = await self.serve_site(req, site)
        resp.headers.append(("Via", "1.1 privoxy-sim (tor)"))
        return resp

    def _tunnel(self, site: Site) -> Callable[[Request], Awaitable[Response]]:
        async def inner(req: Request) -> Response:
            return await self.serve_site(req, site)

        return inner
