"""Exchanges are configured per bank in TOML or the environment; credentials never shown."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from orbweaver.cli import app
from orbweaver.exchanges import ExchangeSettings

PASSWORD = "s3cret-ncmec-pw"
CREDENTIAL = "orbweaver:an0ther-s3cret"


@pytest.fixture
def configured(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "orbweaver.toml"
    path.write_text(
        "[exchange.ncmec]\n"
        'kind = "ncmec"\n'
        'bank = "ncmec"\n'
        'url = "http://127.0.0.1:9/hashsharing"\n'
        'user = "orbweaver"\n'
        f'password = "{PASSWORD}"\n'
        "[exchanges.exchange_credentials]\n"
        f'stopncii = "{CREDENTIAL}"\n'
    )
    monkeypatch.setenv("ORBWEAVER_CONFIG", str(path))
    monkeypatch.delenv("ORBWEAVER_EXCHANGE", raising=False)
    monkeypatch.delenv("ORBWEAVER_EXCHANGE_CREDENTIALS", raising=False)
    monkeypatch.setenv("ORBWEAVER_DATA_DIR", str(tmp_path / "var"))
    return path


def test_an_exchange_table_in_toml(configured: Path) -> None:
    settings = ExchangeSettings()
    assert settings.exchange["ncmec"].bank == "ncmec"
    assert settings.exchange["ncmec"].password == PASSWORD
    assert settings.exchange_credentials == {"stopncii": CREDENTIAL}


def test_exchanges_from_the_environment(configured: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(
        "ORBWEAVER_EXCHANGE", json.dumps({"tx": {"kind": "file", "bank": "b", "url": "/x"}})
    )
    monkeypatch.setenv("ORBWEAVER_EXCHANGE_CREDENTIALS", json.dumps({"tx": "k"}))
    settings = ExchangeSettings()
    # the environment's tables join the file's (pydantic-settings merges them)
    assert set(settings.exchange) == {"ncmec", "tx"} and settings.exchange["tx"].kind == "file"
    assert settings.exchange_credentials["tx"] == "k"


def test_an_unknown_key_in_an_exchange_table_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "bad.toml"
    path.write_text('[exchange.x]\nkind = "ncmec"\nbank = "b"\npasword = "typo"\n')
    monkeypatch.setenv("ORBWEAVER_CONFIG", str(path))
    with pytest.raises(ValueError, match="pasword"):
        ExchangeSettings()


@pytest.mark.parametrize("as_json", [True, False])
def test_config_show_masks_every_credential(configured: Path, as_json: bool) -> None:
    result = CliRunner().invoke(app, ["config", "show", *(["--json"] if as_json else [])])
    assert result.exit_code == 0, result.output
    assert PASSWORD not in result.output
    assert CREDENTIAL not in result.output and "an0ther" not in result.output
    if as_json:
        shown = json.loads(result.stdout)["settings"]["exchanges"]
        assert shown["exchange"]["value"]["ncmec"]["password"] == "***"
        assert shown["exchange"]["value"]["ncmec"]["user"] == "orbweaver"
        assert shown["exchange_credentials"]["value"] == {"stopncii": "***"}


def test_exchange_list_never_prints_credentials(configured: Path) -> None:
    for args in (["exchange", "list"], ["exchange", "list", "--json"]):
        result = CliRunner().invoke(app, args)
        assert result.exit_code == 0, result.output
        assert "ncmec" in result.output
        assert PASSWORD not in result.output
