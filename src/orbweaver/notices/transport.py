"""Delivery channels: SMTP (smtplib, with real TLS and auth) and webhooks (HTTP POST of X-ARF).

A transport only says whether a message went out; retries, backoff and bookkeeping belong to
the outbox. Errors are split into transient (retry later) and permanent (surface now), because
a 550 "no such mailbox" will not heal by retrying while a dropped connection will.
"""

from __future__ import annotations

import contextlib
import smtplib
import ssl
from email.message import Message
from types import TracebackType
from typing import Any, Protocol

import httpx

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
    """One SMTP connection reused across a batch (reconnects when the relay drops it), and an
    HTTP client for webhooks. Use as a context manager around one delivery batch."""

    def __init__(self, settings: NoticeSettings, http: httpx.Client | None = None) -> None:
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
        """POST the X-ARF JSON; 2xx is delivered, 4xx (except 408/429) is permanent."""
        if self._http is None:
            self._http = httpx.Client(timeout=self.settings.webhook_timeout_s, trust_env=False)
        try:
            resp = self._http.post(url, json=report, headers={"Idempotency-Key": idempotency_key})
        except httpx.HTTPError as exc:
            raise DeliveryError(f"webhook {url}: {exc}") from exc
        if resp.is_success:
            return
        permanent = 400 <= resp.status_code < 500 and resp.status_code not in (408, 429)
        raise DeliveryError(f"webhook {url}: HTTP {resp.status_code}", permanent=permanent)

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
            self._http.close()
            self._http = None
