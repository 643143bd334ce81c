"""Webhook: POST a signed JSON notice when a run starts or ends, from a background thread.

The subscriber only queues the notice; one daemon thread per webhook sends it with a
timeout and retries with exponential backoff, so a slow or dead endpoint never slows or
breaks a run. A notice that could not be delivered is logged (``pocketflow_ext.webhook``).
"""

from __future__ import annotations

import atexit
import datetime as dt
import hashlib
import hmac
import json
import os
import queue
import threading
import time
import weakref
from collections.abc import Iterable, Mapping
from typing import Any

from ..errors import ConfigurationError
from ..logging import get_logger
from ..stream import events as ev
from ..stream.events import Event

_log = get_logger("webhook")

ON_CHOICES = ("started", "completed", "failed", "cancelled")
SIGNATURE_HEADER = "X-PocketFlow-Ext-Signature"
EVENT_HEADER = "X-PocketFlow-Ext-Event"
ENV_PREFIX = "POCKETFLOW_EXT_WEBHOOK_"
_STOP = object()


def sign(secret: str | bytes, body: bytes) -> str:
    """The signature header's value for ``body``: ``sha256=<hex HMAC-SHA256>``. A receiver
    recomputes it over the raw body and compares with ``hmac.compare_digest``."""
    key = secret.encode() if isinstance(secret, str) else secret
    return "sha256=" + hmac.new(key, body, hashlib.sha256).hexdigest()


def _iso(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts, dt.timezone.utc).isoformat()


class Webhook:
    """Subscriber POSTing ``{"event", "run_id", "flow", "status", "started_at",
    "finished_at", "duration_s", "steps", "error"}`` for each top-level run whose status
    is in ``on`` (``started``, ``completed``, ``failed``, ``cancelled``).

    With ``secret`` the body is signed: header ``X-PocketFlow-Ext-Signature:
    sha256=<hex>`` (see :func:`sign`). Each attempt waits at most ``timeout`` seconds;
    a failed one (connection error, timeout, HTTP 5xx or 429) is retried ``retries`` times
    after ``backoff``, ``2*backoff``, ... seconds. Pending notices are sent for at most
    ``exit_wait`` seconds when the interpreter exits.

    >>> pocketflow_ext.subscribe(Webhook("https://example.com/hook", secret="s3cret"))  # doctest: +SKIP
    """

    def __init__(
        self,
        url: str,
        on: Iterable[str] = ("completed", "failed", "cancelled"),
        *,
        secret: str | bytes | None = None,
        timeout: float = 5.0,
        retries: int = 3,
        backoff: float = 1.0,
        headers: Mapping[str, str] | None = None,
        exit_wait: float = 5.0,
    ) -> None:
        if not isinstance(url, str) or not url.startswith(("http://", "https://")):
            raise ConfigurationError(
                f"webhook url must start with http:// or https://, got {url!r}"
            )
        chosen = (on,) if isinstance(on, str) else tuple(on)
        unknown = [each for each in chosen if each not in ON_CHOICES]
        if unknown or not chosen:
            raise ConfigurationError(
                f"webhook on= takes some of {', '.join(ON_CHOICES)}, got {list(chosen)!r}"
            )
        for name, value in (("timeout", timeout), ("backoff", backoff), ("exit_wait", exit_wait)):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
                raise ConfigurationError(
                    f"webhook {name} must be a number of seconds >= 0, got {value!r}"
                )
        if isinstance(retries, bool) or not isinstance(retries, int) or retries < 0:
            raise ConfigurationError(
                f"webhook retries must be a whole number >= 0, got {retries!r}"
            )
        self.url = url
        self.on = frozenset(chosen)
        self.secret = secret
        self.timeout = float(timeout)
        self.retries = retries
        self.backoff = float(backoff)
        self.headers = dict(headers or {})
        self.exit_wait = float(exit_wait)
        self._queue: queue.Queue[Any] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._started: dict[str, float] = {}
        # Notices not yet delivered or given up: flush() waits for this to reach zero.
        self._pending = 0
        self._idle = threading.Condition(self._lock)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Webhook | None:
        """A webhook from ``POCKETFLOW_EXT_WEBHOOK_URL`` (and ``_ON``, ``_SECRET``,
        ``_TIMEOUT``, ``_RETRIES``, ``_BACKOFF``), or None when no URL is set."""
        env = os.environ if environ is None else environ
        url = env.get(ENV_PREFIX + "URL", "").strip()
        if not url:
            return None
        kwargs: dict[str, Any] = {}
        on = env.get(ENV_PREFIX + "ON", "").strip()
        if on:
            kwargs["on"] = [each.strip() for each in on.split(",") if each.strip()]
        if env.get(ENV_PREFIX + "SECRET"):
            kwargs["secret"] = env[ENV_PREFIX + "SECRET"]
        for name, convert in (("timeout", float), ("retries", int), ("backoff", float)):
            text = env.get(ENV_PREFIX + name.upper(), "").strip()
            if text:
                try:
                    kwargs[name] = convert(text)
                except ValueError:
                    raise ConfigurationError(
                        f"{ENV_PREFIX}{name.upper()} must be a number, got {text!r}"
                    ) from None
        return cls(url, **kwargs)

    # ── the subscriber: queue and return ──────────────────────────────────────
    def wants(self, kind: str) -> bool:
        return kind in (ev.FLOW_START, ev.FLOW_END)

    def __call__(self, event: Event) -> None:
        if event.path != event.flow_name:  # nested flows are part of their run
            return
        if event.kind == ev.FLOW_START:
            self._started[event.run_id] = event.ts
            if "started" in self.on:
                self._send(self._payload(event, "started", None))
        elif event.kind == ev.FLOW_END:
            started = self._started.pop(event.run_id, None)
            status = event.status or "completed"
            if status in self.on:
                self._send(self._payload(event, status, started))

    @staticmethod
    def _payload(event: Event, status: str, started: float | None) -> dict[str, Any]:
        ended = event.kind == ev.FLOW_END
        return {
            "event": f"run.{status}",
            "run_id": event.run_id,
            "flow": event.flow_name,
            "status": "running" if status == "started" else status,
            "started_at": _iso(started if started is not None else event.ts),
            "finished_at": _iso(event.ts) if ended else None,
            "duration_s": (event.ts - started) if ended and started is not None else None,
            "steps": event.steps,
            "error": event.error,
        }

    def _send(self, payload: dict[str, Any]) -> None:
        with self._lock:
            self._pending += 1
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._deliver_all, name="pocketflow-ext-webhook", daemon=True
                )
                self._thread.start()
                _at_exit.add(self)
        self._queue.put(payload)

    # ── the delivery thread ───────────────────────────────────────────────────
    def _deliver_all(self) -> None:
        while True:
            payload = self._queue.get()
            if payload is _STOP:
                return
            try:
                self._deliver(payload)
            except Exception:  # never let one notice stop the thread
                _log.exception(
                    "webhook to %s: delivering run %s failed", self.url, payload["run_id"]
                )
            finally:
                with self._lock:
                    self._pending -= 1
                    self._idle.notify_all()

    def _deliver(self, payload: dict[str, Any]) -> None:
        # Imported on the delivery thread: urllib.request and its http/ssl/email modules
        # would double the package's import time.
        import urllib.error
        import urllib.request

        body = json.dumps(payload, ensure_ascii=False, default=str).encode()
        headers = {"Content-Type": "application/json", EVENT_HEADER: payload["event"]}
        headers.update(self.headers)
        if self.secret is not None:
            headers[SIGNATURE_HEADER] = sign(self.secret, body)
        problem = ""
        for attempt in range(self.retries + 1):
            if attempt:
                time.sleep(self.backoff * 2 ** (attempt - 1))
            request = urllib.request.Request(self.url, data=body, headers=headers, method="POST")
            try:
                with urllib.request.urlopen(request, timeout=self.timeout) as response:
                    response.read()
                return
            except urllib.error.HTTPError as exc:
                problem = f"HTTP {exc.code}"
                if exc.code < 500 and exc.code != 429:
                    break  # the receiver refused this notice: sending it again will not help
            except (OSError, ValueError) as exc:  # refused, unreachable, timed out
                problem = str(getattr(exc, "reason", None) or exc) or type(exc).__name__
        _log.warning(
            "webhook to %s: could not deliver %s of run %s after %d attempt(s): %s",
            self.url,
            payload["event"],
            payload["run_id"],
            attempt + 1,
            problem,
        )

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until every queued notice was delivered or given up; False on timeout."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._lock:
            while self._pending:
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    return False
                self._idle.wait(left)
        return True

    def close(self, timeout: float | None = None) -> bool:
        """Flush, then stop the delivery thread. Returns whether everything was flushed."""
        flushed = self.flush(timeout)
        with self._lock:
            thread, self._thread = self._thread, None
        if thread is not None:
            self._queue.put(_STOP)
            thread.join(0 if not flushed else timeout)
        return flushed

    def __repr__(self) -> str:
        return f"Webhook({self.url!r}, on={sorted(self.on)!r})"


# Webhooks with a delivery thread, flushed (briefly) when the interpreter exits.
_at_exit: weakref.WeakSet[Webhook] = weakref.WeakSet()


@atexit.register
def _flush_at_exit() -> None:
    for hook in list(_at_exit):
        if not hook.flush(hook.exit_wait):
            _log.warning("webhook to %s: notices still pending at exit were dropped", hook.url)


def plugin() -> Webhook:
    """The ``webhook`` plugin: a webhook configured by ``POCKETFLOW_EXT_WEBHOOK_*``."""
    hook = Webhook.from_env()
    if hook is None:
        raise ConfigurationError(
            f"the webhook plugin needs {ENV_PREFIX}URL (and optionally _ON, _SECRET, "
            "_TIMEOUT, _RETRIES, _BACKOFF)"
        )
    return hook
