"""`orbweaver user add` and `orbweaver review sync|refresh`: first accounts, queue upkeep."""

from __future__ import annotations

import sys
from typing import Any

import typer

user_app = typer.Typer(help="Console users (analyst, senior_analyst, administrator).")
review_app = typer.Typer(help="The suspect review queue.")
audit_app = typer.Typer(help="The audit log of the console.", no_args_is_help=True)


def _fail(message: str) -> None:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(2)


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\n")
    return str(typer.prompt("Password", hide_input=True, confirmation_prompt=True))


@user_app.command("add")
def add(
    name: str = typer.Argument(help="The username."),
    role: str = typer.Option("analyst", help="analyst, senior_analyst or administrator."),
    password_stdin: bool = typer.Option(
        False, "--password-stdin", help="Read the password from the first line of stdin."
    ),
    api_key: bool = typer.Option(
        False, "--api-key", help="Also issue an API key (scope `review`) acting as this user."
    ),
) -> None:
    """Create a console user; the password is stored only as an argon2 hash."""
    from orbweaver.access import ApiKeyError, create_client
    from orbweaver.clock import SystemClock
    from orbweaver.review.accounts import add_user
    from orbweaver.review.audit import audit
    from orbweaver.review.errors import ReviewError
    from orbweaver.store import open_store

    password = _read_password(password_stdin)
    store, clock = open_store(), SystemClock()
    try:
        with store.session() as s:
            add_user(s, clock, name, role, password)
            audit(
                s,
                clock,
                "cli",
                "user.added",
                subject_type="review_user",
                detail={"username": name, "role": role},
            )
        typer.echo(f"user {name} added ({role})")
        if api_key:
            key = create_client(store, clock, name, scopes=("review",), actor="cli")
            typer.echo(f"API key (shown once): {key}")
    except (ReviewError, ApiKeyError) as exc:
        _fail(str(exc))
    finally:
        store.dispose()


def _change_user(name: str, action: str, change: Any) -> Any:
    """Run `change(session, clock, user)` on the named user, audited as `action` by the CLI."""
    import sqlalchemy as sa

    from orbweaver.clock import SystemClock
    from orbweaver.review.audit import audit
    from orbweaver.review.errors import ReviewError
    from orbweaver.store import open_store
    from orbweaver.store.models import ReviewUser

    store, clock = open_store(), SystemClock()
    try:
        with store.session() as s:
            user = s.scalar(sa.select(ReviewUser).where(ReviewUser.username == name))
            if user is None:
                _fail(f"no user {name!r}")
                return None
            result = change(s, clock, user)
            audit(s, clock, "cli", action, subject_type="review_user", subject_id=user.id)
            return result
    except ReviewError as exc:
        _fail(str(exc))
    finally:
        store.dispose()


@user_app.command("disable")
def disable(name: str = typer.Argument(help="The username.")) -> None:
    """Disable a user: no login, and every session ends now."""
    from orbweaver.review.accounts import revoke_sessions

    def change(s: Any, clock: Any, user: Any) -> None:
        user.enabled = False
        revoke_sessions(s, clock, user.id)

    _change_user(name, "user.disabled", change)
    typer.echo(f"user {name} disabled")


@user_app.command("enable")
def enable(name: str = typer.Argument(help="The username.")) -> None:
    """Enable a disabled user again."""

    def change(s: Any, clock: Any, user: Any) -> None:
        user.enabled = True

    _change_user(name, "user.enabled", change)
    typer.echo(f"user {name} enabled")


@user_app.command("reset-password")
def reset_password(
    name: str = typer.Argument(help="The username."),
    password_stdin: bool = typer.Option(
        False, "--password-stdin", help="Read the new password from the first line of stdin."
    ),
) -> None:
    """Set a new password for a user (checked like any); every session of theirs ends."""
    from orbweaver.review.accounts import change_password

    password = _read_password(password_stdin)
    _change_user(name, "password.reset", lambda s, c, u: change_password(s, c, u, password))
    typer.echo(f"password of {name} reset; their sessions ended")


@user_app.command("revoke-sessions")
def revoke(name: str = typer.Argument(help="The username.")) -> None:
    """End every console session of a user (they log in again)."""
    from orbweaver.review.accounts import revoke_sessions

    ended = _change_user(name, "sessions.revoked", lambda s, c, u: revoke_sessions(s, c, u.id))
    typer.echo(f"{ended} sessions of {name} ended")


@user_app.command("totp")
def totp(name: str = typer.Argument(help="The username.")) -> None:
    """Enrol (or re-enrol) a user's authenticator app: prints the secret and an otpauth:// URI
    to give them once (a QR code of the URI is what apps scan). Their sessions end."""
    from orbweaver.review.accounts import enrol_totp, revoke_sessions, totp_uri

    def change(s: Any, clock: Any, user: Any) -> tuple[str, str]:
        secret = enrol_totp(user)
        revoke_sessions(s, clock, user.id)
        return secret, totp_uri(user)

    secret, uri = _change_user(name, "totp.enrolled", change)
    typer.echo(f"secret: {secret}")
    typer.echo(f"uri: {uri}")


def _queue() -> tuple[Any, Any]:
    """The review queue of the configured store, on the configured clock (the roles')."""
    from orbweaver.review.queue import ReviewQueue
    from orbweaver.roles import ProductSettings, build_clock, build_store

    s = ProductSettings.load()
    store = build_store(s)
    return store, ReviewQueue(store, build_clock(s), s.review)


@review_app.command("sync")
def sync() -> None:
    """Turn pending suspects into queue items (the review-sync role and the console also do
    this as they run)."""
    store, queue = _queue()
    report = queue.sync()
    typer.echo(
        f"{report.suspects} suspects: {report.new_items} new items, {report.grouped} grouped, "
        f"{report.requeued} requeued, {report.decided} already decided, {report.allowed} allowed"
    )
    store.dispose()


@review_app.command("refresh")
def refresh() -> None:
    """Recompute every open item's priority (time passes; sites gain detections)."""
    store, queue = _queue()
    typer.echo(f"{queue.refresh_priorities()} items recomputed")
    store.dispose()


@audit_app.command("verify")
def verify() -> None:
    """Walk the audit log's hash chain; exit 1 at the first row changed, removed or added
    out of turn. Prints the head hash: note it elsewhere to detect rows cut off the end."""
    from orbweaver.review.audit import verify_chain
    from orbweaver.store import open_store

    with open_store().session() as s:
        report = verify_chain(s)
    if not report.ok:
        typer.echo(
            f"audit chain BROKEN at row {report.broken_at}: {report.reason} "
            f"({report.rows} rows before it verified)",
            err=True,
        )
        raise typer.Exit(1)
    typer.echo(f"audit chain intact: {report.rows} rows, head {report.head or '(empty)'}")


def register(app: typer.Typer) -> None:
    app.add_typer(user_app, name="user")
    app.add_typer(review_app, name="review")
    app.add_typer(audit_app, name="audit")
