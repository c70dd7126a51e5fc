"""The world's inventory: parties (providers, registrars), their sites, pictures and placements.

Everything is built deterministically from (scenario, scale, seed). A placement (`Item`) is one
picture (or one archive of pictures) at one URL for a span of world time: it is online while
`uploaded_at <= now < removed_at`. The behaviour engine moves `removed_at` and adds re-uploads;
the web servers only read.
"""

from __future__ import annotations

import base64
import bisect
import hashlib
import ipaddress
import random
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from orbweaver.sim import net
from orbweaver.sim import videos as _videos  # noqa: F401  (registers how video pictures render)
from orbweaver.sim.media import EXTENSIONS, ORIGINAL, Member, Picture, Variant, draw_variant
from orbweaver.sim.scenario import Behaviour, ProviderSpec, Scenario

CATEGORIES = (("csam_prepubescent", 0.5), ("csam_postpubescent", 0.3), ("harmful_abusive", 0.2))
LINK_STYLES = ("img", "srcset", "a_href", "og", "css")
TRAPS = ("slow", "broken", "redirect_loop", "oversized", "huge_page")
# The country each provider's network is registered in, as the world's RDAP answers it: an
# assignment for the simulation (by the provider's place in the scenario), not a fact about
# any real organisation. Registrars' networks answer "ZZ" (unknown), as RDAP does for many.
COUNTRIES = ("US", "NL", "DE", "FR", "CA", "GB", "SG", "RU", "UA", "SE")


@dataclass(eq=False)
class Party:
    """An organisation that can receive notices: a provider of the scenario, or a registrar."""

    index: int
    name: str
    slug: str
    service_type: str
    domain: str
    network: ipaddress.IPv4Network
    asn: int
    behaviour: Behaviour
    notice_channel: str = "smtp"
    spec: ProviderSpec | None = None
    registrar: Party | None = None
    country: str = "ZZ"
    sites: list[Site] = field(default_factory=list)

    @property
    def abuse_email(self) -> str:
        return f"abuse@{self.domain}"

    @property
    def handle(self) -> str:
        return f"SIM-{self.slug.upper()}"

    @property
    def abuse_handle(self) -> str:
        return f"SIM-ABUSE-{self.slug.upper()}"

    @property
    def network_handle(self) -> str:
        return f"NET-{str(self.network.network_address).replace('.', '-')}-{self.network.prefixlen}"


@dataclass(frozen=True)
class Image:
    """One picture identity with the label the world's analysts would give it."""

    id: int
    picture: Picture
    label: str  # "known" | "actionable" | "benign"
    category: str | None  # bank category for known/actionable, None for benign


@dataclass(eq=False)
class Item:
    """One placement: a picture or an archive at one URL, online from upload to removal."""

    id: int
    key: str
    site: Site
    kind: str  # "image" | "archive"
    path: str
    image_ids: tuple[int, ...]
    uploaded_at: datetime
    variant: Variant = ORIGINAL
    members: tuple[Member, ...] = ()
    archive_fmt: str | None = None
    password: str | None = None
    removed_at: datetime | None = None
    removed_by: str | None = None
    never: bool = False  # the controller decided never to act on its own
    due_at: datetime | None = None  # it acts then only if reminded in its window before
    parent: Item | None = None
    child: Item | None = None  # the re-upload this removal will cause
    reupload_gap: timedelta | None = None
    gone_at: datetime | None = None  # offline on its own, noticed or not (own_removal_factor)

    def online(self, now: datetime) -> bool:
        end = self.ended_at
        return self.uploaded_at <= now and (end is None or now < end)

    @property
    def ended_at(self) -> datetime | None:
        """When it went (or goes) offline: removed after a notice, or gone on its own."""
        ends = [t for t in (self.removed_at, self.gone_at) if t is not None]
        return min(ends) if ends else None

    @property
    def url(self) -> str:
        return f"http://{self.site.domain}{self.path}"

    def origin_item(self) -> Item:
        item = self
        while item.parent is not None:
            item = item.parent
        return item


@dataclass(eq=False)
class Site:
    index: int
    domain: str
    kind: str  # image_host | file_host | image_board | forum
    host: Party | None  # who controls the content (None for onion forums)
    ip: str | None  # the address DNS gives (the CDN's when fronted); None for onion sites
    origin_ip: str | None = None
    cdn: Party | None = None
    registrar: Party | None = None
    traps: tuple[str, ...] = ()
    items: list[Item] = field(default_factory=list)  # ordered by upload time
    by_path: dict[str, Item] = field(default_factory=dict)

    @property
    def onion(self) -> bool:
        return self.domain.endswith(".onion")

    @property
    def frontline(self) -> Party | None:
        """The party a notice reaches first from this site's address: the CDN, else the host."""
        return self.cdn or self.host

    def add(self, item: Item) -> None:
        bisect.insort_right(self.items, item, key=lambda i: i.uploaded_at)
        self.by_path[item.path] = item

    def listing(self, now: datetime, archives_public_only: bool = False) -> list[Item]:
        """Online items, newest first (what an index page shows)."""
        out = [i for i in self.items if i.online(now)]
        if archives_public_only:
            out = [i for i in out if i.password is None]
        return out[::-1]


def slugify(name: str) -> str:
    """'NFOrce Entertainment B.V.' -> 'nforce-entertainment'; 'ImgOutlet.com' -> 'imgoutlet'."""
    s = name.lower()
    s = re.sub(r"\.(com|net|org)$", "", s)
    s = re.sub(r"\b(ltd|b\.v\.|s\.r\.o\.|inc|llc|gmbh|holding|solutions|group|global)\b\.?", "", s)
    return re.sub(r"[^a-z0-9]+", "-", s).strip("-") or "provider"


def onion_name(seed: int, index: int) -> str:
    digest = hashlib.sha256(f"onion:{seed}:{index}".encode()).digest() * 2
    return base64.b32encode(digest).decode().lower()[:56] + ".onion"


def short_key(seed: int, n: int) -> str:
    return hashlib.blake2s(f"{seed}:{n}".encode(), digest_size=6).hexdigest()


@dataclass
class Catalogue:
    """Everything the world holds, with the lookups its servers need."""

    scenario: Scenario
    scale: float
    seed: int
    providers: list[Party] = field(default_factory=list)
    registrars: list[Party] = field(default_factory=list)
    sites: dict[str, Site] = field(default_factory=dict)  # by domain (clear and onion)
    images: list[Image] = field(default_factory=list)
    items: list[Item] = field(default_factory=list)
    mailboxes: dict[str, Party] = field(default_factory=dict)
    by_ip: dict[str, list[Site]] = field(default_factory=dict)
    version: int = 0  # bumped on every change of placements, so pages can be memoised

    @property
    def parties(self) -> list[Party]:
        return self.providers + self.registrars

    def party(self, name: str) -> Party:
        for p in self.parties:
            if p.name == name or p.slug == name:
                return p
        raise KeyError(name)

    def new_item_id(self) -> int:
        return len(self.items)

    def register(self, item: Item) -> Item:
        self.items.append(item)
        item.site.add(item)
        self.version += 1
        return item

    def item_at(self, url_host: str, path: str) -> Item | None:
        site = self.sites.get(url_host.lower())
        return site.by_path.get(path) if site else None


class Builder:
    """Turns a scenario into a catalogue; one pass, deterministic for a given seed."""

    def __init__(self, scenario: Scenario, scale: float, seed: int) -> None:
        self.cat = Catalogue(scenario, scale, seed)
        self.world = scenario.world
        self.rng = random.Random(seed)
        self.host_counter: dict[int, int] = {}

    def build(self) -> Catalogue:
        self._registrars()
        self._providers()
        for party in self.cat.providers:
            self._sites(party)
        self._forums()
        for party in self.cat.providers:
            self._populate(party)
        return self.cat

    def _registrars(self) -> None:
        for j in range(max(1, self.world.registrars)):
            name = f"Sim Registrar {j + 1}"
            slug = f"registrar{j + 1}"
            beh = Behaviour(escalation_effect=0.8, escalation_delay_days=3.0, recidivism_rate=0.0)
            reg = Party(
                j, name, slug, "registrar", f"{slug}.test", net.registrar_network(j), 65000 + j, beh
            )
            self.cat.registrars.append(reg)
            self.cat.mailboxes[reg.abuse_email] = reg

    def _providers(self) -> None:
        for i, spec in enumerate(self.cat.scenario.providers):
            slug = slugify(spec.name)
            while any(p.slug == slug for p in self.cat.providers):
                slug += "x"
            party = Party(
                i,
                spec.name,
                slug,
                spec.service_type,
                f"{slug}.test",
                net.provider_network(i),
                64512 + i,
                spec.behaviour,
                spec.notice_channel,
                spec,
            )
            party.registrar = self.cat.registrars[i % len(self.cat.registrars)]
            party.country = COUNTRIES[i % len(COUNTRIES)]
            self.cat.providers.append(party)
            self.cat.mailboxes[party.abuse_email] = party

    def _next_ip(self, party: Party) -> str:
        n = self.host_counter.get(party.index, 0)
        self.host_counter[party.index] = n + 1
        return net.host_address(party.network, n)

    def _origin_for(self, cdn: Party) -> Party:
        spec = cdn.spec
        if spec and spec.cdn_origin:
            return self.cat.party(spec.cdn_origin)
        hosts = [p for p in self.cat.providers if p.service_type == "hosting_provider"]
        return self.rng.choice(hosts) if hosts else cdn

    def _sites(self, party: Party) -> None:
        assert party.spec is not None
        for site_spec in party.spec.sites:
            for k in range(site_spec.count):
                self._site(party, site_spec.kind, k)

    def _site(self, party: Party, kind: str, k: int) -> Site:
        index = len(self.cat.sites)
        if party.service_type == "content_administrator" and not party.sites:
            domain = party.domain
        else:
            stem = {"image_host": "pix", "file_host": "files", "image_board": "chan"}[kind]
            domain = f"{stem}-{short_key(self.cat.seed, index)[:6]}.test"
        cdn = party if party.service_type == "cdn" else None
        host = self._origin_for(party) if cdn else party
        origin_ip = self._next_ip(host)
        ip = self._next_ip(cdn) if cdn else origin_ip
        site = Site(
            index,
            domain,
            kind,
            host,
            ip,
            origin_ip,
            cdn,
            self.cat.registrars[index % len(self.cat.registrars)],
        )
        site.traps = self._traps()
        party.sites.append(site)
        if cdn is not None and host is not cdn:
            host.sites.append(site)
        self.cat.sites[domain] = site
        for addr in {ip, origin_ip}:
            self.cat.by_ip.setdefault(addr, []).append(site)
        return site

    def _traps(self) -> tuple[str, ...]:
        bad = self.world.bad
        rates = {
            "slow": bad.slow,
            "broken": bad.broken,
            "redirect_loop": bad.redirect_loop,
            "oversized": bad.oversized,
            "huge_page": bad.huge_page,
        }
        return tuple(t for t in TRAPS if self.rng.random() < rates[t])

    def _forums(self) -> None:
        for f in range(self.world.forums):
            domain = onion_name(self.cat.seed, f)
            self.cat.sites[domain] = Site(len(self.cat.sites), domain, "forum", None, None)

    def _picture(self) -> Picture:
        w = self.world
        if w.video_share > 0 and self.rng.random() < w.video_share:
            width, height = w.video_size
            return Picture(
                self.rng.getrandbits(48), width, height, self.rng.choice(("mp4", "webm"))
            )
        fmts, weights = zip(*w.format_weights, strict=True)
        return Picture(
            seed=self.rng.getrandbits(48),
            width=self.rng.randint(w.min_size, w.max_size),
            height=self.rng.randint(w.min_size, w.max_size),
            fmt=self.rng.choices(fmts, weights)[0],
        )

    def _image(self, actionable: bool) -> Image:
        if actionable:
            label = "known" if self.rng.random() < self.world.known_share else "actionable"
            cats = [c for c, _ in CATEGORIES]
            category: str | None = self.rng.choices(cats, [w for _, w in CATEGORIES])[0]
        else:
            label, category = "benign", None
        image = Image(len(self.cat.images), self._picture(), label, category)
        self.cat.images.append(image)
        return image

    def _upload_time(self) -> datetime:
        w = self.world
        if self.rng.random() < w.initial_share:
            return w.start - timedelta(days=self.rng.uniform(0, 365))
        return w.start + timedelta(days=self.rng.uniform(0, w.duration_days))

    def _populate(self, party: Party) -> None:
        """Place the provider's pictures on its sites, by the weights of its site kinds."""
        spec = party.spec
        assert spec is not None
        owned = [s for s in party.sites if s.frontline is party]
        if not owned:
            return
        n_act = max(1, round(spec.targeted * self.cat.scale))
        benign = spec.benign_per_actionable
        n_ben = round(n_act * (self.world.benign_per_actionable if benign is None else benign))
        images = [self._image(True) for _ in range(n_act)] + [
            self._image(False) for _ in range(n_ben)
        ]
        self.rng.shuffle(images)
        weights = [next(ss.weight for ss in spec.sites if ss.kind == s.kind) for s in owned]
        buckets: list[list[Image]] = [[] for _ in owned]
        for image in images:
            buckets[self.rng.choices(range(len(owned)), weights)[0]].append(image)
        for site, bucket in zip(owned, buckets, strict=True):
            if site.kind == "file_host":
                self._archives(site, bucket)
            else:
                for image in bucket:
                    self.place_image(site, image, Variant(), self._upload_time())
                    if image.picture.is_video and self.rng.random() < self.world.video_copy_share:
                        kind = self.rng.choice(("reencode", "resize", "mirror"))
                        copy = draw_variant(self.rng, kind, image.picture)
                        self.place_image(site, image, copy, self._upload_time())

    def _archives(self, site: Site, images: list[Image]) -> None:
        lo, hi = self.world.archive_size
        while images:
            n = self.rng.randint(lo, hi)
            chunk, images = images[:n], images[n:]
            self.place_archive(site, chunk, [Variant()] * len(chunk), self._upload_time(), self.rng)

    def place_image(self, site: Site, image: Image, variant: Variant, when: datetime) -> Item:
        n = self.cat.new_item_id()
        key = short_key(self.cat.seed, n)
        fmt = variant.fmt or image.picture.fmt
        prefix = {"image_board": "/src/", "image_host": "/i/"}.get(site.kind, "/i/")
        item = Item(
            n,
            key,
            site,
            "image",
            f"{prefix}{key}.{EXTENSIONS[fmt]}",
            (image.id,),
            when,
            variant=variant,
        )
        return self.cat.register(item)

    def place_archive(
        self,
        site: Site,
        images: list[Image],
        variants: list[Variant],
        when: datetime,
        rng: random.Random,
    ) -> Item:
        w = self.world
        n = self.cat.new_item_id()
        key = short_key(self.cat.seed, n)
        fmt = "7z" if rng.random() < w.sevenzip_share else "zip"
        password = (
            f"pw-{short_key(self.cat.seed + 1, n)[:8]}"
            if rng.random() < w.encrypted_share
            else None
        )
        members = tuple(
            Member(f"set-{key[:4]}/{k:03d}.{EXTENSIONS[v.fmt or im.picture.fmt]}", im.picture, v)
            for k, (im, v) in enumerate(zip(images, variants, strict=True))
        )
        item = Item(
            n,
            key,
            site,
            "archive",
            f"/dl/{key}/set-{key[:4]}.{fmt}",
            tuple(im.id for im in images),
            when,
            members=members,
            archive_fmt=fmt,
            password=password,
        )
        return self.cat.register(item)


def build(scenario: Scenario, scale: float = 1.0, seed: int = 1) -> tuple[Catalogue, Builder]:
    builder = Builder(scenario, scale, seed)
    return builder.build(), builder
