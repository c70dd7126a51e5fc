"""Write the tiny seed corpus of every fuzz target (run once; the files are committed):
`python tests/fuzz/make_seeds.py`. Seeds are a few hundred bytes at most, all synthetic."""

from __future__ import annotations

import io
import json
import struct
import zipfile
import zlib
from pathlib import Path

from PIL import Image

CORPUS = Path(__file__).parent / "corpus"


def _png(size: int = 8) -> bytes:
    out = io.BytesIO()
    Image.linear_gradient("L").resize((size, size)).save(out, format="PNG")
    return out.getvalue()


def _gif() -> bytes:
    out = io.BytesIO()
    Image.new("P", (4, 4), 1).save(out, format="GIF")
    return out.getvalue()


def _jpeg() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (8, 8), (10, 20, 30)).save(out, format="JPEG", quality=20)
    return out.getvalue()


def _zip() -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("a.txt", b"hello")
        zf.writestr("d/b.png", _png(4))
    return out.getvalue()


def _png_header(width: int, height: int) -> bytes:
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    crc = struct.pack(">I", zlib.crc32(b"IHDR" + ihdr))
    return b"\x89PNG\r\n\x1a\n" + struct.pack(">I", 13) + b"IHDR" + ihdr + crc


NETWORK = {
    "objectClassName": "ip network",
    "handle": "NET-1",
    "startAddress": "192.0.2.0",
    "endAddress": "192.0.2.255",
    "cidr0_cidrs": [{"v4prefix": "192.0.2.0", "length": 24}],
    "entities": [
        {
            "objectClassName": "entity",
            "handle": "H-1",
            "roles": ["registrant"],
            "vcardArray": ["vcard", [["fn", {}, "text", "Host Ltd"]]],
            "entities": [
                {
                    "objectClassName": "entity",
                    "handle": "H-ABUSE",
                    "roles": ["abuse"],
                    "vcardArray": ["vcard", [["email", {}, "text", "abuse@host.test"]]],
                }
            ],
        }
    ],
    "arin_originas0_originautnums": [64512],
}
DOMAIN = {
    "objectClassName": "domain",
    "handle": "D-1",
    "ldhName": "fuzz.test",
    "entities": [{**NETWORK["entities"][0], "roles": ["registrar"]}],  # type: ignore[index]
}

SEEDS: dict[str, dict[str, bytes]] = {
    "extract_links": {
        "page.html": b'<html><base href="/x/"><a href="a.html">a</a><img src="b.jpg" '
        b'srcset="c.jpg 2x, d.png 3x"><a href="e.zip">pw: secret</a>'
        b"<style>div{background:url(f.gif)}</style></html>",
        "broken.html": b"<a href='\xff\xfe'>x</a><img src=\"javascript:x\"><div><div><p>",
    },
    "normalise_url": {
        "relative": b"http://fuzz.test/a/b.html\n../c d.jpg#frag",
        "absolute": b"http://fuzz.test/\nHTTPS://Example.TEST:443/%7e/a?b=c",
        "idn": b"http://fuzz.test/\nhttp://\xc3\xa9xample.test/\xe2\x98\x83",
    },
    "sniff": {"png": _png(2), "html": b"<!doctype html><p>x", "zip": _zip()[:64]},
    "archive": {"zip": _zip(), "empty": b""},
    "image_pdq": {"png": _png(), "gif": _gif(), "jpeg": _jpeg(), "bomb": _png_header(60000, 60000)},
    "rdap": {
        "network.json": json.dumps(NETWORK).encode(),
        "domain.json": json.dumps(DOMAIN).encode(),
    },
    "bank_csv": {
        "bank.csv": b"signal_type,signal,category,source\nsha256,"
        + b"ab" * 32
        + b",harmful_abusive,hotline\npdq,"
        + b"f0" * 32
        + b",csam_prepubescent,=x\n",
    },
    "settings_toml": {
        "settings.toml": b'database_url = "sqlite:///x.db"\n[review]\nreview_consensus = 2\n'
        b"[crawl]\ncrawl_concurrency = 8\n",
    },
}


def main() -> None:
    for target, files in SEEDS.items():
        folder = CORPUS / target
        folder.mkdir(parents=True, exist_ok=True)
        for name, data in files.items():
            (folder / f"seed-{name}").write_bytes(data)


if __name__ == "__main__":
    main()
