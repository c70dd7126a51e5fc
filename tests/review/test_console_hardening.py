"""The console against an attacker (issue 14): Secure cookies, a CSP the templates can live
with, and (further down) login throttling and the second factor."""

from __future__ import annotations

import json
import re
import threading
import uuid
from datetime import timedelta
from http.cookies import SimpleCookie
from pathlib import Path

import pytest
import sqlalchemy as sa
from fastapi import FastAPI
from fastapi.testclient import TestClient
from review_world import KEY, PASSWORD, World, totp_code
from web_helpers import console_app, https_client

from orbweaver.clock import SettableClock
from orbweaver.review import ReviewSettings
from orbweaver.roles import ProductSettings, refuse_plain_http_cookies
from orbweaver.store import Store, Vault
from orbweaver.store.models import AuditEntry, Media, ReviewUser, Suspect
from orbweaver.web.app import create_app
from orbweaver.web.settings import WebSettings

REDIS = "redis://127.0.0.1:6379/0"

TEMPLATES = Path(__file__).parents[2] / "src/orbweaver/web/console/templates"


def set_cookies(answer: object) -> dict[str, SimpleCookie]:
    found: dict[str, SimpleCookie] = {}
    for header in answer.headers.get_list("set-cookie"):  # type: ignore[attr-defined]
        cookie: SimpleCookie = SimpleCookie()
        cookie.load(header)
        for name in cookie:
            found[name] = cookie
    return found


def login_once(world: World, **kwargs: object) -> tuple[dict[str, SimpleCookie], object]:
    """The cookies the login form and then the login set (the form's, then the session's)."""
    app = console_app(world, **kwargs)  # type: ignore[arg-type]
    client = https_client(app, follow_redirects=False)
    page = client.get("/console/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert token
    answer = client.post(
        "/console/login",
        data={"username": "ana", "password": PASSWORD, "csrf_token": token.group(1)},
    )
    assert answer.status_code == 303 and answer.headers["location"] == "/console/queue"
    cookies = set_cookies(answer)
    cookies["ow_login"] = set_cookies(page)["ow_login"]
    return cookies, answer


def test_session_and_login_cookies_are_secure_by_default(world: World) -> None:
    world.user("ana")
    cookies, _ = login_once(world)
    assert cookies["ow_login"]["ow_login"]["secure"]
    assert cookies["ow_session"]["ow_session"]["secure"]
    assert cookies["ow_session"]["ow_session"]["httponly"]
    assert ReviewSettings().review_cookie_secure  # the default a deployment gets


def test_plain_http_development_turns_secure_off_on_loopback_only(world: World) -> None:
    world.user("ana")
    cookies, _ = login_once(world, plain_http=True)
    assert not cookies["ow_session"]["ow_session"]["secure"]
    dev = ProductSettings(review=ReviewSettings(review_cookie_secure=False))
    refuse_plain_http_cookies(dev, "127.0.0.1")
    with pytest.raises(ValueError, match="review_cookie_secure"):
        refuse_plain_http_cookies(dev, "0.0.0.0")
    refuse_plain_http_cookies(ProductSettings(), "0.0.0.0")  # Secure cookies: anywhere


@pytest.mark.parametrize("template", sorted(p.name for p in TEMPLATES.glob("*.html")))
def test_templates_have_no_inline_script_or_style(template: str) -> None:
    """The CSP allows only same-origin files: inline code would be blocked (and is a risk)."""
    text = (TEMPLATES / template).read_text()
    assert not re.search(r"<script(?![^>]*\ssrc=)[^>]*>", text), "inline <script>"
    assert "<style" not in text and not re.search(r"\sstyle=", text), "inline style"
    assert not re.search(r"\son[a-z]+=", text), "inline event handler"
    assert not re.search(r"\shx-on", text) and "javascript:" not in text


# --- login throttling (item 2) ----------------------------------------------------------------


def login_form_token(client: TestClient) -> str:
    page = client.get("/console/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert token, page.text
    return token.group(1)


def try_login(client: TestClient, username: str, password: str) -> int:
    answer = client.post(
        "/console/login",
        data={"username": username, "password": password, "csrf_token": login_form_token(client)},
    )
    if answer.status_code == 303 and answer.headers["location"] == "/console/queue":
        return 200  # logged in
    if answer.status_code == 303:
        return 401  # back to the form: wrong password
    return answer.status_code


def attacker(app: FastAPI, address: str) -> TestClient:
    return https_client(app, follow_redirects=False, client=(address, 40000))


def test_thirty_wrong_passwords_then_the_right_one_is_refused(world: World) -> None:
    world.user("ana")
    app = console_app(world)
    outcomes = [try_login(attacker(app, "203.0.113.7"), "ana", f"guess-{i}") for i in range(30)]
    assert outcomes[:5] == [401] * 5  # the burst
    assert set(outcomes[5:]) == {429}
    assert try_login(attacker(app, "203.0.113.7"), "ana", PASSWORD) == 429
    # another address is not blocked for other accounts, but is for this one
    world.user("bob")
    assert try_login(attacker(app, "198.51.100.9"), "bob", PASSWORD) == 200
    assert try_login(attacker(app, "198.51.100.9"), "ana", PASSWORD) == 429


def test_one_address_is_throttled_across_accounts(world: World) -> None:
    app = console_app(world)
    client = attacker(app, "203.0.113.8")
    outcomes = [try_login(client, f"user{i}", "wrong password") for i in range(25)]
    assert outcomes[:20] == [401] * 20 and set(outcomes[20:]) == {429}


def test_the_throttle_is_shared_through_redis(world: World) -> None:
    import redis

    try:
        redis.Redis.from_url(REDIS, socket_connect_timeout=0.5).ping()
    except redis.RedisError:
        pytest.skip("no Redis on 127.0.0.1:6379")
    world.user("ana")
    prefix = f"test:{uuid.uuid4().hex}"
    first, second = (
        create_app(
            WebSettings(suspect_key=KEY, redis_url=REDIS, shield_rate_redis_prefix=prefix),
            world.store,
            world.clock,
            review=ReviewSettings(),
        )
        for _ in range(2)
    )
    assert [try_login(attacker(first, f"192.0.2.{i}"), "ana", "nope") for i in range(5)] == [
        401
    ] * 5
    # the other worker (another machine, another address) sees the same account bucket
    assert try_login(attacker(second, "192.0.2.99"), "ana", PASSWORD) == 429


def test_failed_logins_are_aggregated_and_never_store_the_typed_name(world: World) -> None:
    world.user("ana")
    app = console_app(world)
    typed = "=HYPERLINK(" + "x" * 180
    for i in range(30):
        try_login(attacker(app, f"198.51.100.{i}"), typed, "whatever password")
        try_login(attacker(app, "203.0.113.50"), "ana", f"guess {i}")
    with world.store.session() as s:
        rows = s.scalars(sa.select(AuditEntry).where(AuditEntry.action == "login.failed")).all()
        kept = [(r.actor, r.detail) for r in rows]
    assert len(kept) <= 4, kept  # one per bucket and minute (the first at once)
    assert {actor for actor, _ in kept} == {"", "ana"}
    assert not any(typed[:20] in json.dumps(detail) for _, detail in kept)
    # a minute later the counts land, with the next failure of any bucket
    world.clock.advance(timedelta(minutes=2))
    try_login(attacker(app, "192.0.2.1"), "nobody", "x")
    with world.store.session() as s:
        counted = s.scalars(
            sa.select(AuditEntry.detail).where(AuditEntry.action == "login.failed")
        ).all()
    assert sum(int(d["count"]) for d in counted) == 61  # 30 + 30 + 1: none lost


def test_password_hashing_is_bounded(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    """Concurrent logins past the limit wait, then are refused (503), without hashing."""
    from orbweaver.review import accounts

    world.user("ana")
    app = console_app(world, review_login_hash_concurrency=1, review_login_wait_s=0.2)
    inside, release = threading.Event(), threading.Event()
    real = accounts.authenticate

    def slow(*args: object, **kwargs: object) -> object:
        inside.set()
        release.wait(10)
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(accounts, "authenticate", slow)
    first = threading.Thread(target=try_login, args=(attacker(app, "192.0.2.10"), "ana", PASSWORD))
    first.start()
    try:
        assert inside.wait(10)
        assert try_login(attacker(app, "192.0.2.11"), "ana", PASSWORD) == 503
    finally:
        release.set()
        first.join(10)


# --- the vault's key (item 12) ----------------------------------------------------------------


def test_vault_keygen_and_rekey_move_every_suspect_to_the_new_key(
    world: World, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from typer.testing import CliRunner

    from orbweaver.cli import app
    from orbweaver.store import Vault, new_key

    for seed in range(3):
        world.suspect(seed)
    runner = CliRunner()
    printed = runner.invoke(app, ["vault", "keygen"])
    assert printed.exit_code == 0
    new = printed.stdout.strip()
    assert Vault(new) and new != new_key()
    monkeypatch.setenv(
        "ORBWEAVER_DATABASE_URL", str(world.store.engine.url.render_as_string(False))
    )
    monkeypatch.setenv("ORBWEAVER_SUSPECT_KEY", new)
    refused = runner.invoke(app, ["vault", "rekey"])  # the old data cannot be opened
    assert refused.exit_code == 2 and "wrong key" in refused.output
    monkeypatch.setenv("ORBWEAVER_SUSPECT_RETIRED_KEY", KEY)
    done = runner.invoke(app, ["vault", "rekey"])
    assert done.exit_code == 0, done.output
    assert "re-sealed 3 suspects; 0 already" in done.stdout
    again = runner.invoke(app, ["vault", "rekey"])
    assert "re-sealed 0 suspects; 3 already" in again.stdout
    with world.store.session() as s:
        rows = s.execute(
            sa.select(Suspect.ciphertext, Media.sha256).join(Media, Media.id == Suspect.media_id)
        ).all()
    assert len(rows) == 3
    for blob, sha256 in rows:
        Vault(new).open(blob, context=sha256.encode())  # the new key alone opens each


def test_the_web_role_refuses_to_start_with_a_passphrase(sqlite_store: Store) -> None:
    from orbweaver.config import Settings
    from orbweaver.roles import build_web_app
    from orbweaver.store import VaultError

    with pytest.raises(VaultError, match="vault keygen"):
        build_web_app(ProductSettings(core=Settings(suspect_key="a memorable passphrase")))
    build_web_app(ProductSettings(core=Settings(suspect_key=KEY)), store=sqlite_store)


# --- the audit log: TRUNCATE refused, hash chain (item 9) --------------------------------------


def tamper(store: Store, statement: str) -> None:
    """Change the audit log past its triggers, as an attacker with the database's keys could."""
    with store.engine.begin() as conn:
        if store.dialect == "postgresql":
            conn.execute(sa.text("SET LOCAL session_replication_role = replica"))
        else:
            conn.execute(sa.text("DROP TRIGGER IF EXISTS audit_log_no_update"))
            conn.execute(sa.text("DROP TRIGGER IF EXISTS audit_log_no_delete"))
        conn.execute(sa.text(statement))


def audit_rows(world: World, n: int) -> list[int]:
    from orbweaver.review.audit import audit

    ids = []
    for i in range(n):
        with world.store.session() as s:
            ids.append(audit(s, world.clock, "ana", "image.view", subject_id=i, detail={"i": i}).id)
        world.clock.advance(timedelta(seconds=1))
    return ids


def verify(world: World) -> object:
    from orbweaver.review.audit import verify_chain

    with world.store.session() as s:
        return verify_chain(s)


@pytest.mark.parametrize(
    "change",
    [
        "UPDATE audit_log SET detail = '{\"i\": 99}' WHERE id = {id}",
        "UPDATE audit_log SET actor = 'someone else' WHERE id = {id}",
        "DELETE FROM audit_log WHERE id = {id}",
    ],
)
def test_a_tampered_audit_row_breaks_the_chain(world: World, change: str) -> None:
    ids = audit_rows(world, 6)
    report = verify(world)
    assert report.ok and report.rows == 6 and len(report.head) == 64  # type: ignore[attr-defined]
    tamper(world.store, change.replace("{id}", str(ids[3])))
    report = verify(world)
    assert not report.ok  # type: ignore[attr-defined]
    expected = ids[4] if change.startswith("DELETE") else ids[3]  # the row after a removed one
    assert report.broken_at == expected  # type: ignore[attr-defined]


def test_audit_verify_command(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from orbweaver.cli import app

    ids = audit_rows(world, 3)
    url = world.store.engine.url.render_as_string(hide_password=False)
    monkeypatch.setenv("ORBWEAVER_DATABASE_URL", url)
    from orbweaver.config import get_settings

    get_settings.cache_clear()
    try:
        ok = CliRunner().invoke(app, ["audit", "verify"])
        assert ok.exit_code == 0 and "intact: 3 rows" in ok.stdout, ok.output
        tamper(world.store, f"UPDATE audit_log SET action = 'nothing' WHERE id = {ids[1]}")
        broken = CliRunner().invoke(app, ["audit", "verify"])
        assert broken.exit_code == 1 and f"BROKEN at row {ids[1]}" in broken.output
    finally:
        get_settings.cache_clear()


def test_concurrent_appends_keep_one_chain(world: World) -> None:
    from orbweaver.review.audit import audit

    def append(worker: int) -> None:
        for i in range(15):
            with world.store.session() as s:
                audit(s, world.clock, f"w{worker}", "image.view", subject_id=i)

    threads = [threading.Thread(target=append, args=(w,)) for w in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    report = verify(world)
    assert report.ok and report.rows == 60, report  # type: ignore[attr-defined]


@pytest.mark.postgres
def test_truncate_of_the_audit_log_is_refused(pg_store: Store, clock: SettableClock) -> None:
    world = World(pg_store, clock, Vault(KEY))
    audit_rows(world, 2)
    for table in ("audit_log", "event", "review_assessment", "review_verdict"):
        with (
            pytest.raises(sa.exc.DatabaseError, match="append-only"),
            pg_store.engine.begin() as conn,
        ):
            conn.execute(sa.text(f"TRUNCATE {table} CASCADE"))
    assert verify(world).rows == 2  # type: ignore[attr-defined]


def test_the_migration_chains_rows_already_there(tmp_path: Path) -> None:
    from orbweaver.review.audit import verify_chain
    from orbweaver.store import open_store

    store = open_store(f"sqlite:///{tmp_path / 'old.db'}", upgrade=False)
    store.upgrade("0007")
    with store.engine.begin() as conn:
        for i in range(3):
            conn.execute(
                sa.text(
                    "INSERT INTO audit_log (at, actor, role, action, subject_type, detail) "
                    "VALUES (:at, 'ana', 'analyst', 'login', '', :detail)"
                ),
                {"at": f"2026-01-0{i + 1} 10:00:00.000000", "detail": json.dumps({"n": i})},
            )
    store.upgrade()
    with store.session() as s:
        report = verify_chain(s)
    assert report.ok and report.rows == 3
    store.dispose()


def test_an_id_too_large_for_a_row_is_a_clear_422_not_a_crash(world: World) -> None:
    """Found by the API fuzzing: ids past 64 bits overflowed the driver (500)."""
    from web_helpers import api_key, browser

    world.user("adm", "administrator")
    app = console_app(world)
    huge = str(2**70)
    api = TestClient(app, raise_server_exceptions=False)
    key = api_key(world, "adm")
    for path in (f"/api/review/items/{huge}", f"/api/review/audit?before={huge}"):
        answer = api.get(path, auth=key)
        assert answer.status_code == 422, (path, answer.text)
    page, _ = browser(app, "adm")
    assert page.get(f"/console/items/{huge}").status_code == 422


# --- accounts: second factor, password rules, disable, reset, revoke, idle (item 3) ------------


def login_status(app: FastAPI, username: str, password: str, code: str = "") -> int:
    client = https_client(app, follow_redirects=False)
    answer = client.post(
        "/console/login",
        data={
            "username": username,
            "password": password,
            "csrf_token": login_form_token(client),
            "code": code,
        },
    )
    if answer.status_code == 303:
        return 200 if answer.headers["location"] == "/console/queue" else 401
    return answer.status_code


def test_administrators_need_a_second_factor(world: World) -> None:
    from orbweaver.review import add_user

    with world.store.session() as s:
        add_user(s, world.clock, "newadmin", "administrator", PASSWORD)  # not enrolled
    world.user("adm", "administrator")  # enrolled
    world.user("ana")  # an analyst: no second factor by default
    app = console_app(world)
    refused = https_client(app, follow_redirects=False)
    answer = refused.post(
        "/console/login",
        data={
            "username": "newadmin",
            "password": PASSWORD,
            "csrf_token": login_form_token(refused),
        },
    )
    assert answer.status_code == 403 and "second factor is required" in answer.text
    assert login_status(app, "adm", PASSWORD) == 401  # no code
    assert login_status(app, "adm", PASSWORD, "000000") == 401  # wrong code
    code = totp_code(world.store, world.clock.now(), "adm")
    assert login_status(app, "adm", PASSWORD, code) == 200
    assert login_status(app, "adm", PASSWORD, code) == 401  # a code is used once
    assert login_status(app, "ana", PASSWORD) == 200


@pytest.mark.parametrize(
    ("password", "problem"),
    [
        ("short", "at least 10"),
        ("password123", "too common"),
        ("Qwertyuiop!1", "too common"),
        ("1234567890", "too common"),
        ("letmein2024!!", "too common"),
        ("xx-ana-is-me-xx", "username"),
        ("aaaaaaaaaaaa", "different characters"),
    ],
)
def test_weak_passwords_are_refused(world: World, password: str, problem: str) -> None:
    from orbweaver.review import ReviewError, add_user

    with pytest.raises(ReviewError, match=problem), world.store.session() as s:
        add_user(s, world.clock, "ana", "analyst", password)


def test_idle_sessions_end(world: World) -> None:
    from web_helpers import browser

    world.user("ana")
    app = console_app(world, review_idle_minutes=30)
    client, _ = browser(app, "ana")
    world.clock.advance(timedelta(minutes=20))
    assert client.get("/console/queue").status_code == 200  # still in use
    world.clock.advance(timedelta(minutes=29))
    assert client.get("/console/queue").status_code == 200  # 29 min since the last request
    world.clock.advance(timedelta(minutes=31))
    assert client.get("/console/queue").status_code == 303  # idle: back to the login page


def test_a_user_changes_their_password_in_the_console(world: World) -> None:
    from web_helpers import browser

    world.user("ana")
    app = console_app(world)
    client, csrf = browser(app, "ana")
    form = {"csrf_token": csrf, "current": "not it at all", "new": "a brand new secret"}
    wrong = client.post("/console/password", data={**form, "confirm": form["new"]})
    assert wrong.status_code == 400 and "current password is wrong" in wrong.text
    common = {**form, "current": PASSWORD, "new": "password1234", "confirm": "password1234"}
    assert "too common" in client.post("/console/password", data=common).text
    done = client.post(
        "/console/password", data={**form, "current": PASSWORD, "confirm": form["new"]}
    )
    assert done.status_code == 303 and "changed=1" in done.headers["location"]
    assert client.get("/console/queue").status_code == 303  # that session ended
    assert login_status(app, "ana", PASSWORD) == 401
    assert login_status(app, "ana", "a brand new secret") == 200


def test_user_commands_disable_enable_reset_revoke_and_enrol(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner
    from web_helpers import browser

    from orbweaver.cli import app as cli
    from orbweaver.config import get_settings

    world.user("ana")
    app = console_app(world, review_login_account_burst=50)  # many logins, one account
    monkeypatch.setenv(
        "ORBWEAVER_DATABASE_URL", world.store.engine.url.render_as_string(hide_password=False)
    )
    get_settings.cache_clear()
    runner = CliRunner()
    try:
        session, _ = browser(app, "ana")
        assert runner.invoke(cli, ["user", "disable", "ana"]).exit_code == 0
        assert session.get("/console/queue").status_code == 303  # ended at once
        assert login_status(app, "ana", PASSWORD) == 401
        assert runner.invoke(cli, ["user", "enable", "ana"]).exit_code == 0
        session, _ = browser(app, "ana")
        weak = runner.invoke(
            cli, ["user", "reset-password", "ana", "--password-stdin"], input="password123\n"
        )
        assert weak.exit_code == 2 and "too common" in weak.output
        reset = runner.invoke(
            cli, ["user", "reset-password", "ana", "--password-stdin"], input="new one, long\n"
        )
        assert reset.exit_code == 0, reset.output
        assert session.get("/console/queue").status_code == 303
        assert login_status(app, "ana", "new one, long") == 200
        session = https_client(app, follow_redirects=False)
        enrol = runner.invoke(cli, ["user", "totp", "ana"])
        assert enrol.exit_code == 0 and "otpauth://totp/" in enrol.stdout
        assert login_status(app, "ana", "new one, long") == 401  # enrolled: a code is needed
        code = totp_code(world.store, world.clock.now(), "ana")
        assert login_status(app, "ana", "new one, long", code) == 200
        revoked = runner.invoke(cli, ["user", "revoke-sessions", "ana"])
        assert revoked.exit_code == 0 and "1 sessions of ana ended" in revoked.stdout
        with world.store.session() as s:
            actions = set(s.scalars(sa.select(AuditEntry.action)))
        assert {"user.disabled", "user.enabled", "password.reset", "totp.enrolled"} <= actions
    finally:
        get_settings.cache_clear()


def test_administrators_disable_and_end_sessions_in_the_console(world: World) -> None:
    from web_helpers import browser

    world.user("adm", "administrator")
    world.user("ana")
    app = console_app(world)
    admin, csrf = browser(app, "adm")
    WHY = {"csrf_token": csrf, "reason": "left the team"}
    ana, _ = browser(app, "ana")
    page = admin.get("/console/users")
    no_reason = admin.post("/console/users/ana/disable", data={"csrf_token": csrf})
    assert no_reason.status_code == 409 and "give a reason" in no_reason.text
    assert page.status_code == 200 and "ana" in page.text and "enrolled" in page.text
    assert admin.post("/console/users/ana/revoke", data=WHY).status_code == 303
    assert ana.get("/console/queue").status_code == 303  # its session ended
    ana, _ = browser(app, "ana")
    assert admin.post("/console/users/ana/disable", data=WHY).status_code == 303
    assert ana.get("/console/queue").status_code == 303
    assert login_status(app, "ana", PASSWORD) == 401
    refused = admin.post("/console/users/adm/disable", data=WHY)
    assert refused.status_code == 403
    assert admin.post("/console/users/ana/enable", data=WHY).status_code == 303
    assert login_status(app, "ana", PASSWORD) == 200
    ana_csrf = browser(app, "ana")[1]
    assert ana.post("/console/users/adm/disable", data={"csrf_token": ana_csrf}).status_code in (
        401,
        403,
    )


def test_administrators_add_users_in_the_console(world: World) -> None:
    """Issue 20: users were added only with the CLI. An administrator adds one in the browser
    with a reason (audited); its random first password is shown once and works; analysts and
    a missing reason are refused; a taken name is an error on the page."""
    from web_helpers import browser

    world.user("adm", "administrator")
    world.user("ana")
    app = console_app(world)
    admin, csrf = browser(app, "adm")
    listing = admin.get("/console/users").text
    assert 'action="/console/users"' in listing and 'id="first-password"' not in listing
    form = {"csrf_token": csrf, "username": "newbie", "role": "analyst"}
    no_reason = admin.post("/console/users", data=form)
    assert no_reason.status_code == 409 and "give a reason" in no_reason.text
    added = admin.post("/console/users", data={**form, "reason": "joined the hotline"})
    assert added.status_code == 200 and added.headers["cache-control"] == "no-store"
    password = added.text.split('<code id="first-password">', 1)[1].split("</code>", 1)[0]
    assert len(password) >= 20 and "<td>newbie</td>" in added.text
    assert login_status(app, "newbie", password) == 200
    taken = admin.post("/console/users", data={**form, "reason": "again"})
    assert taken.status_code == 409 and "already exists" in taken.text
    assert taken.headers["content-type"].startswith("text/html")
    ana, ana_csrf = browser(app, "ana")
    refused = ana.post("/console/users", data={**form, "csrf_token": ana_csrf, "reason": "x"})
    assert refused.status_code == 403
    with world.store.session() as s:
        rows = s.scalars(sa.select(AuditEntry).where(AuditEntry.action == "user.added")).all()
        assert [(r.actor, r.detail) for r in rows] == [
            ("adm", {"username": "newbie", "role": "analyst", "reason": "joined the hotline"})
        ]
        assert password not in str(s.scalars(sa.select(ReviewUser.password_hash)).all())
