"""The child process that decodes one suspect picture for the console, and nothing else.

Run as `python -I -m orbweaver.review.render_worker SPEC` with the bytes on stdin; writes the PNG
on stdout. Before it reads a byte it limits itself: address space (RLIMIT_AS), CPU seconds
(RLIMIT_CPU), no files written (RLIMIT_FSIZE 0), no core dumps, and an audit hook that refuses
sockets, subprocesses and exec (a decoder that wanted Ghostscript, or the network, gets an
exception, not a shell); where the kernel lets an unprivileged process do it, it also moves
into a network namespace of its own with no interface but loopback (down). It imports nothing of
orbweaver and nothing but the standard library, Pillow and (for videos) PyAV, so a decoder
crash or a memory blow-up ends this process only.

A video (`spec["video"]`) is never handed to the browser to play: this process decodes up to
`sheet_frames` frames spread over its length (one thread, under the same limits) and draws them
as one contact sheet, softened like a picture; with `spec["frame"]` set it renders that one
frame alone (the analyst's reveal of one frame).
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


SHEET_COLUMNS = 4
THUMB_SIDE = 240


def video_frames(data: bytes, count: int, formats: tuple[str, ...]) -> list[Any]:
    """Up to `count` frames of the video, evenly spread over its length, as Pillow images."""
    import av

    container = av.open(io.BytesIO(data), mode="r")
    try:
        if container.format.name not in formats or not container.streams.video:
            raise ValueError(f"not an allowed video ({container.format.name})")
        stream = container.streams.video[0]
        stream.thread_type = "SLICE"
        stream.thread_count = 1
        seconds = float(container.duration or 0) / 1_000_000 or 1.0
        step = max(seconds / count, 1e-3)
        frames, next_at = [], 0.0
        for frame in container.decode(stream):
            at = float(frame.time or 0.0)
            if at + 1e-6 >= next_at:
                image = frame.to_image()
                image.thumbnail((THUMB_SIDE, THUMB_SIDE))
                frames.append(image)
                next_at += step
                if len(frames) >= count:
                    break
        return frames
    finally:
        container.close()


def render_video(data: bytes, spec: dict[str, Any]) -> bytes:
    """A contact sheet of the video's sampled frames, or one of them (`spec["frame"]`)."""
    from PIL import Image, ImageFilter

    frames = video_frames(data, int(spec["sheet_frames"]), tuple(spec["video_formats"]))
    if not frames:
        raise ValueError("no frame decoded")
    chosen = spec.get("frame")
    if chosen is not None:
        if not 0 <= int(chosen) < len(frames):
            raise ValueError(f"no frame {chosen}: the sheet has {len(frames)}")
        frames = [frames[int(chosen)]]
    columns = min(SHEET_COLUMNS, len(frames))
    rows = (len(frames) + columns - 1) // columns
    sheet = Image.new("RGB", (columns * THUMB_SIDE, rows * THUMB_SIDE), (40, 40, 40))
    for k, frame in enumerate(frames):
        sheet.paste(frame.convert("RGB"), ((k % columns) * THUMB_SIDE, (k // columns) * THUMB_SIDE))
    image = sheet.convert("L") if spec["greyscale"] else sheet
    if spec["blur"]:
        image = image.filter(ImageFilter.GaussianBlur(max(8, THUMB_SIDE // 16)))
    out = io.BytesIO()
    image.save(out, format="PNG", optimize=False)
    return out.getvalue()


def main() -> int:
    spec = json.loads(sys.argv[1])
    _limit(int(spec["memory_bytes"]), int(spec["cpu_seconds"]))
    from PIL import Image

    Image.init()  # plug-ins imported before the hook (imports open files, not sockets)
    if spec.get("video"):
        import av  # noqa: F401  (FFmpeg's libraries loaded before the hook)
    _own_network_namespace()
    sys.addaudithook(_audit)
    data = sys.stdin.buffer.read(int(spec["max_bytes"]) + 1)
    if len(data) > int(spec["max_bytes"]):
        print(f"over {spec['max_bytes']} bytes", file=sys.stderr)
        return EXIT_REFUSED
    try:
        png = render_video(data, spec) if spec.get("video") else render(data, spec)
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
