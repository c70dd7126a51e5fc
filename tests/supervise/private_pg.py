"""A PostgreSQL server of the test's own: initdb into a temporary folder, a free loopback port,
started and stopped by the test. Never the machine's shared server."""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
from pathlib import Path

from takedown.helpers import free_port


def _bindir() -> Path:
    """Where initdb and pg_ctl are (Debian keeps them out of PATH, under a versioned folder)."""
    out = subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True, check=False)
    candidates = [Path(out.stdout.strip())] if out.returncode == 0 else []
    candidates += sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)
    for path in candidates:
        if (path / "initdb").is_file() and (path / "pg_ctl").is_file():
            return path
    raise RuntimeError("no PostgreSQL server binaries (initdb, pg_ctl) found")


class PrivatePostgres:
    """One cluster in a temporary folder; as root, it runs as the `postgres` user (initdb
    refuses root)."""

    def __init__(self) -> None:
        self.bin = _bindir()
        self.root = Path(tempfile.mkdtemp(prefix="orbweaver-pg-"))
        self.data = self.root / "data"
        self.port = free_port()
        self.up = False
        self.user: pwd.struct_passwd | None = None
        if os.geteuid() == 0:
            self.user = pwd.getpwnam("postgres")
            os.chown(self.root, self.user.pw_uid, self.user.pw_gid)
        self._run(
            "initdb",
            "-D",
            str(self.data),
            "-U",
            "postgres",
            "-A",
            "trust",
            "-E",
            "UTF8",
            "--no-sync",
        )

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, tool: str, *args: str) -> None:
        cmd = [str(self.bin / tool), *args]
        if self.user is not None:
            cmd = ["runuser", "-u", self.user.pw_name, "--", *cmd]
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=120, cwd=self.root)
        if done.returncode != 0:
            log = self.root / "server.log"
            tail = log.read_text()[-2000:] if log.exists() else ""
            raise RuntimeError(f"{tool} failed: {done.stdout}{done.stderr}\n{tail}")

    def start(self) -> None:
        options = (
            f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        )
        log = str(self.root / "server.log")
        self._run(
            "pg_ctl", "-D", str(self.data), "-l", log, "-o", options, "-w", "-t", "60", "start"
        )
        self.up = True

    def stop(self) -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "-t", "60", "stop")
        self.up = False

    def ensure_up(self) -> None:
        """Started again if a test stopped it and failed before starting it."""
        if not self.up:
            self.start()

    def close(self) -> None:
        if self.up:
            self.stop()
        shutil.rmtree(self.root, ignore_errors=True)
