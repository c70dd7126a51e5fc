"""Settings come from the environment and a TOML file; the clock only moves when told."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from orbweaver.clock import SettableClock, SystemClock, ensure_utc
from orbweaver.config import Settings


def test_env_lists_are_comma_separated(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ORBWEAVER_CRAWL_ALLOW_NETWORKS", "127.0.0.0/8, ::1/128")
    monkeypatch.setenv("ORBWEAVER_DNS_SERVERS", "127.0.0.53:5353")
    settings = Settings()
    assert settings.crawl_allow_networks == ["127.0.0.0/8", "::1/128"]
    assert settings.dns_servers == ["127.0.0.53:5353"]


def test_database_defaults_to_sqlite_under_var(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ORBWEAVER_DATABASE_URL", raising=False)
    assert Settings().resolved_database_url == "sqlite:///var/orbweaver.db"


def test_toml_file_below_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    toml = tmp_path / "ow.toml"
    toml.write_text('database_url = "sqlite:///from-toml.db"\npdq_quality_min = 40\n')
    monkeypatch.setenv("ORBWEAVER_CONFIG", str(toml))
    monkeypatch.setenv("ORBWEAVER_PDQ_QUALITY_MIN", "60")
    settings = Settings()
    assert settings.database_url == "sqlite:///from-toml.db"
    assert settings.pdq_quality_min == 60


def test_missing_config_file_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ORBWEAVER_CONFIG", "/nonexistent/orbweaver.toml")
    with pytest.raises(FileNotFoundError, match="ORBWEAVER_CONFIG"):
        Settings()


def test_settable_clock_moves_only_forward() -> None:
    clock = SettableClock(datetime(2021, 1, 1, tzinfo=UTC))
    assert clock.advance(timedelta(days=2)) == datetime(2021, 1, 3, tzinfo=UTC)
    with pytest.raises(ValueError):
        clock.set(datetime(2020, 1, 1, tzinfo=UTC))
    with pytest.raises(ValueError):
        clock.advance(timedelta(seconds=-1))


def test_system_clock_is_aware_utc() -> None:
    assert SystemClock().now().tzinfo is UTC
    assert ensure_utc(datetime(2021, 1, 1)).tzinfo is UTC


def test_remote_clock_follows_a_served_clock() -> None:
    import json
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from orbweaver.clock import RemoteClock

    readings = ["2021-01-01T00:00:00+00:00", "2021-01-05T00:00:00+00:00", "2021-01-02T00:00:00"]

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = json.dumps({"now": readings.pop(0)}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        clock = RemoteClock(f"http://127.0.0.1:{server.server_port}/clock")
        assert clock.now() == datetime(2021, 1, 1, tzinfo=UTC)
        assert clock.now() == datetime(2021, 1, 5, tzinfo=UTC)
        assert clock.now() == datetime(2021, 1, 5, tzinfo=UTC)  # never backwards
    finally:
        server.shutdown()
