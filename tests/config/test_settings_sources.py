"""Every settings class reads the TOML file and the environment alike: constructor > environment
> TOML > defaults; the file's keys are checked against every class."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from orbweaver.attribution.settings import AttributionSettings
from orbweaver.config import (
    ConfigError,
    OrbweaverSettings,
    RunSettings,
    Settings,
    field_sections,
    settings_classes,
)
from orbweaver.crawl.settings import CrawlSettings
from orbweaver.evidence.settings import EvidenceSettings
from orbweaver.exchanges.settings import ExchangeSettings
from orbweaver.monitor.settings import MonitorSettings
from orbweaver.notices.settings import NoticeSettings
from orbweaver.review.settings import ReviewSettings
from orbweaver.web.settings import WebSettings, web_settings

# One setting per class: (class, name, TOML literal, value read from TOML, env text, value read
# from the environment). The security-relevant ones where a silent default did harm first.
CASES: list[tuple[type[OrbweaverSettings], str, str, Any, str, Any]] = [
    (Settings, "pdq_quality_min", "40", 40, "60", 60),
    (
        RunSettings,
        "roles",
        '["notify", "serve"]',
        ["notify", "serve"],
        "crawl,monitor",
        ["crawl", "monitor"],
    ),
    (CrawlSettings, "crawl_concurrency", "16", 16, "32", 32),
    (AttributionSettings, "rdap_timeout_s", "2.5", 2.5, "4", 4.0),
    (NoticeSettings, "smtp_tls", '"tls"', "tls", "starttls", "starttls"),
    (MonitorSettings, "recheck_schedule_hours", "[2.0, 12.0]", [2.0, 12.0], "3,9", [3.0, 9.0]),
    (ReviewSettings, "review_cookie_secure", "false", False, "true", True),
    (WebSettings, "shield_rate_burst", "7", 7, "9", 9),
    (EvidenceSettings, "evidence_retention_days_page", "30", 30.0, "45", 45.0),
    (ExchangeSettings, "exchange_fetch_every_s", "60", 60.0, "120", 120.0),
]


def _config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, text: str) -> Path:
    path = tmp_path / "orbweaver.toml"
    path.write_text(text)
    monkeypatch.setenv("ORBWEAVER_CONFIG", str(path))
    return path


def test_every_settings_class_has_a_case() -> None:
    assert {c[0] for c in CASES} == set(settings_classes())


@pytest.mark.parametrize("layout", ["top level", "stage table"])
@pytest.mark.parametrize(("cls", "name", "literal", "from_toml", "env", "from_env"), CASES)
def test_toml_is_read_and_the_environment_overrides_it(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    layout: str,
    cls: type[OrbweaverSettings],
    name: str,
    literal: str,
    from_toml: Any,
    env: str,
    from_env: Any,
) -> None:
    monkeypatch.delenv(f"ORBWEAVER_{name.upper()}", raising=False)
    line = f"{name} = {literal}\n"
    _config(
        tmp_path,
        monkeypatch,
        line if layout == "top level" else f"[{field_sections()[name]}]\n{line}",
    )
    assert getattr(cls(), name) == from_toml
    assert getattr(cls(), name) != getattr(cls.model_construct(), name)  # not the default
    monkeypatch.setenv(f"ORBWEAVER_{name.upper()}", env)
    assert getattr(cls(), name) == from_env
    assert getattr(cls(**{name: from_toml}), name) == from_toml  # the constructor wins


def test_web_settings_from_shared_settings_keeps_the_web_ones(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`web_settings(Settings())`: the shared values as given, the web ones from the file."""
    _config(tmp_path, monkeypatch, "suspect_key = 'k'\n[web]\nshield_url_enabled = true\n")
    web = web_settings(Settings(database_url="sqlite:///given.db"))
    assert web.shield_url_enabled is True
    assert web.database_url == "sqlite:///given.db" and web.suspect_key == "k"


def test_a_typo_is_an_error_naming_the_key_and_what_was_meant(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _config(tmp_path, monkeypatch, 'smtp_tsl = "tls"\n')
    with pytest.raises(ConfigError, match=r"unknown setting smtp_tsl \(did you mean smtp_tls"):
        NoticeSettings()
    with pytest.raises(ConfigError, match="smtp_tsl"):  # every class refuses the file
        ReviewSettings()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "[notices]\nreview_cookie_secure = true\n",
            r"review_cookie_secure belongs under \[review\]",
        ),
        ('smtp_tls = "tls"\n[notices]\nsmtp_tls = "none"\n', "smtp_tls is given twice"),
        ("[notice]\nsmtp_tls = 'tls'\n", r"unknown table \[notice\] \(did you mean notices"),
        ("[notices]\nsmtp_tsl = 'tls'\n", r"unknown setting \[notices\] smtp_tsl"),
        ("smtp_tls = \n", "not valid TOML"),
    ],
)
def test_misplaced_repeated_and_unknown_keys_are_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, text: str, message: str
) -> None:
    _config(tmp_path, monkeypatch, text)
    with pytest.raises(ConfigError, match=message):
        NoticeSettings()


def test_every_problem_is_listed_at_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _config(tmp_path, monkeypatch, "a_typo = 1\nanother_typo = 2\n")
    with pytest.raises(ConfigError, match=r"a_typo.*another_typo"):
        Settings()


def test_a_changed_file_is_read_again(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = _config(tmp_path, monkeypatch, "smtp_port = 465\n")
    assert NoticeSettings().smtp_port == 465
    path.write_text("smtp_port = 587\n# longer, so the size differs too\n")
    assert NoticeSettings().smtp_port == 587


def test_settings_names_are_unique_across_stages() -> None:
    sections = field_sections()  # raises if two stages declare one name
    assert sections["smtp_tls"] == "notices" and sections["database_url"] == "core"
    assert set(sections.values()) == {c.section for c in settings_classes()}
