"""A webhook receiver on 127.0.0.1 that checks the signature, and runs that notify it.

The notice is sent from a background thread: the run returns at once, however slow the
receiver. For an unmodified script set POCKETFLOW_EXT_WEBHOOK_URL (and _SECRET) instead.
"""

import hashlib
import hmac
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from pocketflow_ext import Flow, Node
from pocketflow_ext.subscribers.webhook import SIGNATURE_HEADER, Webhook

SECRET = "change-me"
received = []


class Receiver(BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        expected = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
        signed = hmac.compare_digest(self.headers.get(SIGNATURE_HEADER, ""), expected)
        received.append((signed, json.loads(body)))
        self.send_response(204 if signed else 401)
        self.end_headers()

    def log_message(self, *args):
        pass


server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
threading.Thread(target=server.serve_forever, daemon=True).start()
hook = Webhook(f"http://127.0.0.1:{server.server_port}/hooks/runs", secret=SECRET)


class Work(Node):
    pass


class Broken(Node):
    def exec(self, prep_res):
        raise RuntimeError("upstream API down")


Flow(start=Work(), flow_name="nightly-report").subscribe(hook).run({})
try:
    Flow(start=Broken(), flow_name="nightly-sync").subscribe(hook).run({})
except RuntimeError:
    pass
hook.flush(timeout=10)  # only so this example can print what arrived
for signed, notice in received:
    print(f"signed={signed} {notice['event']} flow={notice['flow']} error={notice['error']}")
server.shutdown()
