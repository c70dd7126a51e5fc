"""`orbweaver config show`: every setting, where it came from, secrets masked."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from orbweaver.cli import app
from orbweaver.config import effective_settings, mask_url

SECRETS = {
    "smtp_password": "hunter2-smtp",
    "suspect_key": "k3y-of-the-vault",
}
DB_PASSWORD = "pg-pa55word"


@pytest.fixture
def deployment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "deploy.toml"
    path.write_text(
        f'smtp_password = "{SECRETS["smtp_password"]}"\n'
        f'database_url = "postgresql://orbweaver:{DB_PASSWORD}@db.internal:5432/ow"\n'
        "[notices]\n"
        'smtp_tls = "tls"\n'
        "smtp_port = 25\n"
    )
    for name in ("SMTP_TLS", "SMTP_PASSWORD", "DATABASE_URL", "SMTP_PORT", "SUSPECT_KEY"):
        monkeypatch.delenv(f"ORBWEAVER_{name}", raising=False)
    monkeypatch.setenv("ORBWEAVER_CONFIG", str(path))
    monkeypatch.setenv("ORBWEAVER_SMTP_PORT", "465")
    monkeypatch.setenv("ORBWEAVER_SUSPECT_KEY", SECRETS["suspect_key"])
    return path


def test_each_value_says_where_it_came_from(deployment: Path) -> None:
    got = {(e.section, e.name): e for e in effective_settings()}
    assert got[("notices", "smtp_tls")].value == "tls"
    assert got[("notices", "smtp_tls")].origin == "toml"
    assert got[("notices", "smtp_port")].value == 465
    assert got[("notices", "smtp_port")].origin == "environment"
    assert got[("notices", "smtp_host")].origin == "default"
    assert got[("review", "review_cookie_secure")].origin == "default"
    assert got[("core", "suspect_key")].origin == "environment"
    # each setting once, under the class that declares it (WebSettings inherits the core ones)
    assert len(got) == len(effective_settings())


def test_secrets_are_masked(deployment: Path) -> None:
    got = {e.name: e for e in effective_settings()}
    assert got["smtp_password"].value == "***" and got["smtp_password"].secret
    assert got["suspect_key"].value == "***"
    assert got["database_url"].value == "postgresql://orbweaver:***@db.internal:5432/ow"
    assert got["smtp_username"].value == ""  # an unset secret-looking field stays visibly empty


def test_mask_url_keeps_everything_but_the_password() -> None:
    assert mask_url("redis://:pw@127.0.0.1:6379/0") == "redis://:***@127.0.0.1:6379/0"
    assert mask_url("postgresql://u@h/db") == "postgresql://u@h/db"
    assert mask_url("https://data.iana.org/rdap/") == "https://data.iana.org/rdap/"


@pytest.mark.parametrize("as_json", [True, False])
def test_the_command_prints_every_class_and_no_secret(deployment: Path, as_json: bool) -> None:
    result = CliRunner().invoke(app, ["config", "show", *(["--json"] if as_json else [])])
    assert result.exit_code == 0, result.output
    for secret in [*SECRETS.values(), DB_PASSWORD]:
        assert secret not in result.output
    if as_json:
        report = json.loads(result.stdout)
        assert report["file"] == str(deployment)
        assert set(report["settings"]) == {
            "core",
            "run",
            "crawl",
            "attribution",
            "notices",
            "monitor",
            "review",
            "web",
            "evidence",
            "exchanges",
        }
        tls = report["settings"]["notices"]["smtp_tls"]
        assert tls == {"value": "tls", "source": "toml", "env": "ORBWEAVER_SMTP_TLS"}
        assert report["settings"]["notices"]["smtp_port"]["source"] == "environment"
    else:
        assert "smtp_tls" in result.stdout and "ORBWEAVER_SMTP_PORT" in result.stdout
        assert "review_cookie_secure" in result.stdout


def test_the_command_reports_a_broken_file_and_unknown_variables(
    deployment: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ORBWEAVER_SMTP_TSL", "tls")
    result = CliRunner().invoke(app, ["config", "show", "--json"])
    assert result.exit_code == 0
    assert json.loads(result.stdout)["unknown_env"] == ["ORBWEAVER_SMTP_TSL"]
    assert "ORBWEAVER_SMTP_TSL is set but no setting reads it" in result.stderr
    broken = tmp_path / "broken.toml"
    broken.write_text("smtp_tsl = 'tls'\n")
    result = CliRunner().invoke(app, ["config", "show", "--config", str(broken)])
    assert result.exit_code == 2
    assert "unknown setting smtp_tsl" in result.stderr
