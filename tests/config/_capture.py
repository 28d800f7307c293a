"""Loopback servers that capture what a real Alertmanager delivers: HTTP posts and SMTP mail."""

from __future__ import annotations

import email
import json
import socketserver
import threading
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class HttpCapture(BaseHTTPRequestHandler):
    """Records each POST as (path, JSON body); Slack, PagerDuty and webhooks all post JSON."""

    posts: list[tuple[str, dict[str, Any]]] = []

    def do_POST(self) -> None:  # noqa: N802 - http.server's naming
        body = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).posts.append((self.path, json.loads(body)))
        self.send_response(202 if self.path.startswith("/pagerduty") else 200)
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *args: object) -> None:
        pass


class SmtpCapture(socketserver.StreamRequestHandler):
    """Just enough SMTP (no AUTH, no STARTTLS offered) to accept Alertmanager's mail."""

    mails: list[Message] = []

    def _say(self, line: str) -> None:
        self.wfile.write(line.encode() + b"\r\n")

    def handle(self) -> None:
        self._say("220 capture ESMTP")
        while line := self.rfile.readline():
            verb = line.decode(errors="replace").strip().split(" ")[0].upper()
            if verb == "EHLO":
                self._say("250-capture")
                self._say("250 8BITMIME")
            elif verb == "DATA":
                self._say("354 end with .")
                type(self).mails.append(email.message_from_bytes(self._data()))
                self._say("250 queued")
            elif verb == "QUIT":
                self._say("221 bye")
                return
            else:
                self._say("250 ok")

    def _data(self) -> bytes:
        lines = []
        while (line := self.rfile.readline()) not in (b".\r\n", b".\n", b""):
            lines.append(line[1:] if line.startswith(b"..") else line)
        return b"".join(lines)


def start_http() -> ThreadingHTTPServer:
    server = ThreadingHTTPServer(("127.0.0.1", 0), HttpCapture)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def start_smtp() -> socketserver.ThreadingTCPServer:
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), SmtpCapture)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def html_of(mail: Message) -> str:
    """The decoded text/html part of a mail."""
    for part in mail.walk():
        if part.get_content_type() == "text/html":
            payload = part.get_payload(decode=True)
            assert isinstance(payload, bytes)
            return payload.decode(part.get_content_charset() or "utf-8")
    raise AssertionError(f"no text/html part in {mail['Subject']!r}")
