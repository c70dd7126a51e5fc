"""The child process that decodes one suspect picture for the console, and nothing else.

Run as `python -I -m orbweaver.review.render_worker SPEC` with the bytes on stdin; writes the PNG
on stdout. Before it reads a byte it limits itself: address space (RLIMIT_AS), CPU seconds
(RLIMIT_CPU), no files written (RLIMIT_FSIZE 0), no core dumps, and an audit hook that refuses
sockets, subprocesses and exec (a decoder that wanted Ghostscript, or the network, gets an
exception, not a shell); where the kernel lets an unprivileged process do it, it also moves
into a network namespace of its own with no interface but loopback (down). It imports nothing of
orbweaver and nothing but the standard library and Pillow, so a decoder crash or a memory
blow-up ends this process only.
"""

from __future__ import annotations

import io
import json
import resource
import sys
from typing import Any

_REFUSED_EVENTS = (
    "socket.",
    "subprocess.",
    "os.system",
    "os.exec",
    "os.posix_spawn",
    "os.spawn",
    "os.fork",
    "os.forkpty",
    "pty.spawn",
    "ctypes.dlopen",
)
EXIT_REFUSED = 3  # the picture is not one we render (format, size, broken)


def _audit(event: str, _args: tuple[Any, ...]) -> None:
    if event.startswith(_REFUSED_EVENTS):
        raise PermissionError(f"render worker: {event} refused")


def _limit(memory_bytes: int, cpu_seconds: int) -> None:
    resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))
    resource.setrlimit(resource.RLIMIT_CPU, (cpu_seconds, cpu_seconds + 1))
    resource.setrlimit(resource.RLIMIT_FSIZE, (0, 0))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def _own_network_namespace() -> None:
    """Best effort: unshare(CLONE_NEWUSER | CLONE_NEWNET). Refused in many containers; the
    audit hook is what always holds."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.unshare(0x10000000 | 0x40000000)
    except Exception:
        pass


def render(data: bytes, spec: dict[str, Any]) -> bytes:
    """Decode through the allow-list only, refuse past the pixel limit, scale, soften, PNG."""
    from PIL import Image, ImageFilter

    Image.MAX_IMAGE_PIXELS = None  # our own limit below, checked before any decoding
    max_side = int(spec["max_side"])
    source = Image.open(io.BytesIO(data), formats=tuple(spec["formats"]))
    width, height = source.size
    if width <= 0 or height <= 0 or width * height > int(spec["max_pixels"]):
        raise ValueError(f"{width}x{height} over {spec['max_pixels']} pixels")
    source.draft("RGB", (max_side, max_side))
    source.load()
    source.thumbnail((max_side, max_side))
    image = source.convert("L" if spec["greyscale"] else "RGB")
    if spec["blur"]:
        # Strong enough that shapes stay readable but no detail does.
        radius = max(8, max(image.size) // 16)
        image = image.filter(ImageFilter.GaussianBlur(radius))
    out = io.BytesIO()
    image.save(out, format="PNG", optimize=False)
    return out.getvalue()


def main() -> int:
    spec = json.loads(sys.argv[1])
    _limit(int(spec["memory_bytes"]), int(spec["cpu_seconds"]))
    from PIL import Image

    Image.init()  # plug-ins imported before the hook (imports open files, not sockets)
    _own_network_namespace()
    sys.addaudithook(_audit)
    data = sys.stdin.buffer.read(int(spec["max_bytes"]) + 1)
    if len(data) > int(spec["max_bytes"]):
        print(f"over {spec['max_bytes']} bytes", file=sys.stderr)
        return EXIT_REFUSED
    try:
        png = render(data, spec)
    except MemoryError:
        print("out of memory", file=sys.stderr)
        return EXIT_REFUSED
    except Exception as exc:
        print(f"{type(exc).__name__}: {str(exc)[:200]}", file=sys.stderr)
        return EXIT_REFUSED
    sys.stdout.buffer.write(png)
    sys.stdout.buffer.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
