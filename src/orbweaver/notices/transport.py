"""Delivery channels: SMTP (smtplib, with real TLS and auth) and webhooks (HTTP POST of X-ARF).

A transport only says whether a message went out; retries, backoff and bookkeeping belong to
the outbox. Errors are split into transient (retry later) and permanent (surface now), because
a 550 "no such mailbox" will not heal by retrying while a dropped connection will.

A webhook URL is data (a provider record), so it is posted through the network policy
(`orbweaver.net.GuardedClient`): its address checked and pinned, no redirect followed, the
answer's body never read. An address the policy refuses is a permanent failure.
"""

from __future__ import annotations

import contextlib
import smtplib
import ssl
from email.message import Message
from types import TracebackType
from typing import Any, Protocol

from orbweaver.net import FetchError, GuardedClient, PolicyError, ResolveError
from orbweaver.notices.settings import NoticeSettings


class DeliveryError(Exception):
    """A message did not go out. `permanent` ones are not retried."""

    def __init__(self, message: str, *, permanent: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent


class Transport(Protocol):
    def send_email(self, msg: Message) -> None: ...

    def post_webhook(self, url: str, report: dict[str, Any], idempotency_key: str) -> None: ...

    def close(self) -> None: ...


def _tls_context(settings: NoticeSettings) -> ssl.SSLContext:
    """Verified TLS, optionally against a private CA (a hotline's own relay)."""
    return ssl.create_default_context(cafile=settings.smtp_ca_file or None)


class SmtpWebhookTransport:
    """One SMTP connection reused across a batch (reconnects when the relay drops it), and a
    guarded HTTP client for webhooks (the deployment's policy from settings, unless given). Use
    as a context manager around one delivery batch."""

    def __init__(self, settings: NoticeSettings, http: GuardedClient | None = None) -> None:
        self.settings = settings
        self._smtp: smtplib.SMTP | None = None
        self._http = http

    def __enter__(self) -> SmtpWebhookTransport:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _connect(self) -> smtplib.SMTP:
        s = self.settings
        try:
            smtp: smtplib.SMTP
            if s.smtp_tls == "tls":
                smtp = smtplib.SMTP_SSL(
                    s.smtp_host, s.smtp_port, timeout=s.smtp_timeout_s, context=_tls_context(s)
                )
            else:
                smtp = smtplib.SMTP(s.smtp_host, s.smtp_port, timeout=s.smtp_timeout_s)
                if s.smtp_tls == "starttls":
                    smtp.starttls(context=_tls_context(s))
            if s.smtp_username:
                smtp.login(s.smtp_username, s.smtp_password)
        except smtplib.SMTPAuthenticationError as exc:
            raise DeliveryError(f"SMTP authentication refused: {exc}", permanent=False) from exc
        except (OSError, smtplib.SMTPException) as exc:
            raise DeliveryError(f"SMTP connect to {s.smtp_host}:{s.smtp_port}: {exc}") from exc
        return smtp

    def send_email(self, msg: Message) -> None:
        """Send over the open connection; one reconnect if the relay dropped it."""
        for attempt in (1, 2):
            if self._smtp is None:
                self._smtp = self._connect()
            try:
                refused = self._smtp.send_message(msg)
            except smtplib.SMTPServerDisconnected as exc:
                self._smtp = None
                if attempt == 2:
                    raise DeliveryError(f"SMTP disconnected: {exc}") from exc
                continue
            except smtplib.SMTPRecipientsRefused as exc:
                codes = [code for code, _ in exc.recipients.values()]
                raise DeliveryError(
                    f"recipient refused: {exc.recipients}", permanent=min(codes) >= 500
                ) from exc
            except smtplib.SMTPResponseException as exc:
                raise DeliveryError(
                    f"SMTP {exc.smtp_code}: {exc.smtp_error!r}", permanent=exc.smtp_code >= 500
                ) from exc
            except (OSError, smtplib.SMTPException) as exc:
                self._drop()
                raise DeliveryError(f"SMTP error: {exc}") from exc
            if refused:
                raise DeliveryError(f"recipient refused: {refused}", permanent=True)
            return

    def post_webhook(self, url: str, report: dict[str, Any], idempotency_key: str) -> None:
        """POST the X-ARF JSON; 2xx is delivered, 4xx (except 408/429) is permanent, and so is
        a URL the network policy refuses. A redirect is not followed (a transient failure)."""
        if self._http is None:
            self._http = self._default_client()
        try:
            reply = self._http.request(
                "POST",
                url,
                json=report,
                headers={"Idempotency-Key": idempotency_key},
                follow_redirects=False,
                read_body=False,
            )
        except PolicyError as exc:
            raise DeliveryError(f"webhook {url}: refused: {exc}", permanent=True) from exc
        except (ResolveError, FetchError) as exc:
            raise DeliveryError(f"webhook {url}: {exc}") from exc
        if 200 <= reply.status < 300:
            return
        permanent = 400 <= reply.status < 500 and reply.status not in (408, 429)
        raise DeliveryError(f"webhook {url}: HTTP {reply.status}", permanent=permanent)

    def _default_client(self) -> GuardedClient:
        from orbweaver.config import get_settings
        from orbweaver.net import NetworkPolicy, Resolver

        app = get_settings()
        return GuardedClient(
            NetworkPolicy.from_settings(app),
            Resolver(app.dns_servers),
            timeout=self.settings.webhook_timeout_s,
        )

    def _drop(self) -> None:
        if self._smtp is not None:
            with contextlib.suppress(OSError, smtplib.SMTPException):
                self._smtp.close()
            self._smtp = None

    def close(self) -> None:
        if self._smtp is not None:
            with contextlib.suppress(OSError, smtplib.SMTPException):
                self._smtp.quit()
            self._smtp = None
        if self._http is not None:
            self._http.close()  # its connections; it reopens them if used again
