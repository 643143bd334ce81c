"""Webhook against a real local HTTP server: the signed JSON body, retries with backoff,
a dead endpoint logged, and a slow endpoint that never holds up the run."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import socket
import threading
from collections.abc import Iterator
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from pocketflow_ext import ConfigurationError, Flow, Node
from pocketflow_ext.subscribers.webhook import SIGNATURE_HEADER, Webhook


class Receiver:
    """A webhook receiver on 127.0.0.1: answers each POST with the next status of
    ``statuses`` (then 200), after ``gate`` is set."""

    def __init__(self, statuses: list[int] | None = None) -> None:
        self.statuses = list(statuses or [])
        self.requests: list[tuple[Message, bytes]] = []  # headers match any case
        self.gate = threading.Event()
        self.gate.set()
        self.answered = threading.Event()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.gate.wait(30)
                receiver.requests.append((self.headers, body))
                status = receiver.statuses.pop(0) if receiver.statuses else 200
                self.send_response(status)
                self.end_headers()
                receiver.answered.set()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.gate.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    yield server
    server.close()


class Work(Node):
    def post(self, shared: Any, prep_res: Any, exec_res: Any) -> None:
        shared["done"] = True


class Broken(Node):
    def exec(self, prep_res: Any) -> None:
        raise RuntimeError("model down")


def test_a_completed_run_is_posted_as_signed_json(receiver: Receiver) -> None:
    hook = Webhook(receiver.url, secret="s3cret")
    Flow(start=Work(), flow_name="Report").subscribe(hook).run({})
    assert hook.flush(30)
    ((headers, body),) = receiver.requests
    expected = "sha256=" + hmac.new(b"s3cret", body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(headers[SIGNATURE_HEADER], expected)
    payload = json.loads(body)
    assert payload["event"] == "run.completed" and payload["status"] == "completed"
    assert payload["flow"] == "Report" and payload["run_id"].startswith("Report-")
    assert payload["steps"] == 1 and payload["error"] is None
    assert payload["duration_s"] >= 0 and payload["finished_at"] >= payload["started_at"]


def test_only_the_chosen_statuses_are_posted(receiver: Receiver) -> None:
    hook = Webhook(receiver.url, on=["failed"])
    Flow(start=Work()).subscribe(hook).run({})
    with pytest.raises(RuntimeError):
        Flow(start=Broken()).subscribe(hook).run({})
    assert hook.flush(30)
    ((_, body),) = receiver.requests
    payload = json.loads(body)
    assert payload["status"] == "failed" and payload["error"] == "RuntimeError: model down"


def test_a_failing_endpoint_is_retried_with_backoff_until_it_answers() -> None:
    receiver = Receiver(statuses=[503, 500])
    try:
        hook = Webhook(receiver.url, retries=3, backoff=0.01)
        Flow(start=Work()).subscribe(hook).run({})
        assert hook.flush(30)
        assert len(receiver.requests) == 3  # two failures, then delivered
        assert len({body for _, body in receiver.requests}) == 1  # the same notice
    finally:
        receiver.close()


def test_a_dead_endpoint_is_logged_and_the_run_completes(caplog: pytest.LogCaptureFixture) -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{sock.getsockname()[1]}/hook"
    hook = Webhook(dead, retries=2, backoff=0.01, timeout=2)
    shared: dict[str, Any] = {}
    with caplog.at_level(logging.WARNING, logger="pocketflow_ext.webhook"):
        Flow(start=Work()).subscribe(hook).run(shared)
        assert hook.flush(30)
    assert shared == {"done": True}
    (record,) = [r for r in caplog.records if r.name == "pocketflow_ext.webhook"]
    assert "could not deliver run.completed" in record.getMessage()
    assert "after 3 attempt(s)" in record.getMessage()


def test_a_slow_endpoint_never_holds_up_the_run(receiver: Receiver) -> None:
    receiver.gate.clear()  # the receiver will not answer until we let it
    hook = Webhook(receiver.url, timeout=30)
    shared: dict[str, Any] = {}
    Flow(start=Work()).subscribe(hook).run(shared)
    # The run has returned while its notice is still waiting for the receiver.
    assert shared == {"done": True}
    assert not receiver.answered.is_set()
    receiver.gate.set()
    assert hook.flush(30)
    assert receiver.answered.is_set()


def test_started_notices_come_before_the_end(receiver: Receiver) -> None:
    hook = Webhook(receiver.url, on=("started", "completed"))
    Flow(start=Work()).subscribe(hook).run({})
    assert hook.flush(30)
    events = [json.loads(body)["event"] for _, body in receiver.requests]
    assert events == ["run.started", "run.completed"]


def test_configured_from_environment_variables(receiver: Receiver) -> None:
    env = {
        "POCKETFLOW_EXT_WEBHOOK_URL": receiver.url,
        "POCKETFLOW_EXT_WEBHOOK_ON": "failed, cancelled",
        "POCKETFLOW_EXT_WEBHOOK_SECRET": "k",
        "POCKETFLOW_EXT_WEBHOOK_RETRIES": "1",
        "POCKETFLOW_EXT_WEBHOOK_TIMEOUT": "2.5",
    }
    hook = Webhook.from_env(env)
    assert hook is not None
    assert hook.on == {"failed", "cancelled"} and hook.secret == "k"
    assert hook.retries == 1 and hook.timeout == 2.5
    assert Webhook.from_env({}) is None


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"url": "ftp://x"}, "must start with http:// or https://"),
        ({"url": "http://x", "on": ["done"]}, "on= takes some of started, completed"),
        ({"url": "http://x", "retries": -1}, "retries must be a whole number >= 0"),
        ({"url": "http://x", "timeout": "5"}, "timeout must be a number of seconds"),
    ],
)
def test_bad_settings_are_refused_with_the_fix(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        Webhook(**kwargs)


def test_a_bad_environment_value_names_the_variable() -> None:
    env = {"POCKETFLOW_EXT_WEBHOOK_URL": "http://x", "POCKETFLOW_EXT_WEBHOOK_RETRIES": "lots"}
    with pytest.raises(ConfigurationError, match="POCKETFLOW_EXT_WEBHOOK_RETRIES must be a number"):
        Webhook.from_env(env)
