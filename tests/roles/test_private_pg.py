"""Roles against a PostgreSQL of the test's own (never the machine's shared one): readiness
follows the store (a stopped server makes a role not ready, not dead), and the compose file's
two database roles work: the migration job as the schema owner, every role as a runtime user
that cannot change the schema."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from orbweaver.clock import SystemClock
from orbweaver.store import open_store
from roles.world import StallingSink, get, notices_world, role_env, service, wait_for
from supervise.private_pg import PrivatePostgres

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def pg() -> Iterator[PrivatePostgres]:
    server = PrivatePostgres()
    server.start()
    yield server
    server.close()


def database(pg: PrivatePostgres, name: str) -> str:
    admin = sa.create_engine(pg.url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return sa.engine.make_url(pg.url).set(database=name).render_as_string(False)


def test_a_role_is_not_ready_while_its_store_is_down_and_ready_again_after(
    pg: PrivatePostgres, tmp_path: Path
) -> None:
    pg.ensure_up()
    env = role_env(database(pg, "readiness"), str(tmp_path / "var"), health_timeout_s=2)
    with service(env, tmp_path, "--roles", "monitor") as svc:
        ready = svc.url("monitor_health_port", "/readyz")
        wait_for("monitor ready", lambda: get(ready)[0] == 200)
        pg.stop()
        try:
            wait_for("monitor not ready", lambda: get(ready)[0] == 503, 30)
            checks = json.loads(get(ready)[1])["checks"]
            assert checks["store"]["ok"] is False, checks
            assert get(svc.url("monitor_health_port", "/livez"))[0] == 200  # alive: it waits
            assert svc.metric("monitor_health_port", "orbweaver_queue_scrape_ok") == 0
            assert get(svc.url("supervisor_health_port", "/readyz"))[0] == 503
        finally:
            pg.start()
        wait_for("monitor ready again", lambda: get(ready)[0] == 200)
        assert svc.roles()["monitor"]["restarts"] == 0
        code, _ = svc.stop()
    assert code == 0


def psql(pg: PrivatePostgres, script: Path, **variables: str) -> None:
    """`psql -f script` as the superuser (the compose file's init script does the same)."""
    local = pg.root / script.name
    shutil.copy(script, local)
    local.chmod(0o644)
    args = ["-h", "127.0.0.1", "-p", str(pg.port), "-U", "postgres", "-d", "postgres"]
    args += ["-v", "ON_ERROR_STOP=1"]
    for name, value in variables.items():
        args += ["-v", f"{name}={value}"]
    pg._run("psql", *args, "-f", str(local))


def test_the_owner_migrates_and_the_roles_run_as_a_user_that_cannot_change_the_schema(
    pg: PrivatePostgres, tmp_path: Path
) -> None:
    pg.ensure_up()
    psql(pg, ROOT / "deploy/postgres-roles.sql", owner_password="o", app_password="a")
    base = sa.engine.make_url(pg.url).set(database="orbweaver")
    owner = base.set(username="orbweaver_owner").render_as_string(False)
    app = base.set(username="orbweaver_app").render_as_string(False)
    env = role_env(app, str(tmp_path / "var"), auto_migrate="false", notify_every_s=0.2)
    with StallingSink() as sink:
        env["ORBWEAVER_SMTP_HOST"], env["ORBWEAVER_SMTP_PORT"] = "127.0.0.1", str(sink.port)
        with service(env, tmp_path, "--roles", "notify,monitor,review-sync") as svc:
            ready = svc.url("notify_health_port", "/readyz")
            wait_for("notify waiting for the schema", lambda: "waiting for the schema" in svc.log())
            assert get(svc.url("notify_health_port", "/livez"))[0] == 200
            assert get(ready)[0] == 503
            # the runtime user cannot migrate, whatever it is told
            with pytest.raises(sa.exc.ProgrammingError, match="permission denied"):
                open_store(app)
            owner_store = open_store(owner)  # the migration job: `orbweaver db upgrade`
            owner_store.dispose()
            for setting in ("notify_health_port", "monitor_health_port", "review_sync_health_port"):
                url = svc.url(setting, "/readyz")
                wait_for(f"{setting} ready", lambda url=url: get(url)[0] == 200)
            # rows written as the runtime user, read and sent by the notify role
            store = open_store(app, upgrade=False)
            notices_world(store, SystemClock(), ["h0.test", "h1.test"])
            wait_for("the notices", lambda: len(sink.messages) == 2)
            with store.engine.connect() as conn, pytest.raises(sa.exc.ProgrammingError):
                conn.execute(sa.text("CREATE TABLE intruder (i int)"))
            with store.engine.connect() as conn, pytest.raises(sa.exc.ProgrammingError):
                conn.execute(sa.text("ALTER TABLE outbox ADD COLUMN intruder int"))
            store.dispose()
            assert all(r["restarts"] == 0 for r in svc.roles().values())
            code, _ = svc.stop()
    assert code == 0, svc.log()
