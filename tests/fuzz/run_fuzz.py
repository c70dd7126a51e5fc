"""Run one fuzz target under atheris: `python tests/fuzz/run_fuzz.py TARGET SECONDS [WORKDIR]`.

orbweaver's modules are instrumented for coverage; the seed corpus is tests/fuzz/corpus/TARGET
(read only); what the fuzzer grows goes to WORKDIR/corpus/TARGET (default var/fuzz, ignored by
git), crashes to WORKDIR/crashes/TARGET. A crash's input belongs in the seed corpus once
fixed, so `make test` replays it for good.
"""

from __future__ import annotations

import sys
from pathlib import Path

import atheris

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # `fuzz.targets` as pytest sees it

with atheris.instrument_imports(include=["orbweaver"]):
    from fuzz.targets import TARGETS


def main() -> int:
    name, seconds = sys.argv[1], int(sys.argv[2])
    work = Path(sys.argv[3] if len(sys.argv) > 3 else "var/fuzz")
    grown, crashes = work / "corpus" / name, work / "crashes" / name
    grown.mkdir(parents=True, exist_ok=True)
    crashes.mkdir(parents=True, exist_ok=True)
    target = TARGETS[name]
    # Warm the lazy imports outside the timed loop, then instrument what they loaded.
    target(b"")
    atheris.instrument_all()
    args = [
        sys.argv[0],
        str(grown),
        str(HERE / "corpus" / name),
        f"-max_total_time={seconds}",
        "-rss_limit_mb=2048",
        "-timeout=30",
        "-max_len=65536",
        f"-artifact_prefix={crashes}/",
        "-print_final_stats=1",
    ]
    atheris.Setup(args, target)
    atheris.Fuzz()  # libFuzzer ends the process itself (`make fuzz` times it)
    return 0


if __name__ == "__main__":
    sys.exit(main())
