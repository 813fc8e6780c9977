#!/usr/bin/env python3
"""A webhook receiver for the notifier tests, on 127.0.0.1 only.

Prints its port on the first line of standard output. Verifies the X-CarbonRecovery-Signature
of every request (HMAC-SHA256 over "<timestamp>.<body>" with the secret read from --secret-file)
and counts, per Idempotency-Key, the deliveries it ACCEPTED (answered 2xx). With --fail-rate it
fails that share of requests at random, before accepting anything, in one of three ways: HTTP 503,
no answer until the client gives up (timeout), or a reset connection.

GET /stats answers JSON: accepted (total 2xx answers), unique (distinct keys accepted), duplicates
(keys accepted more than once), bad_signatures, failures by kind, kinds (event kinds accepted),
first (the first accepted body per key is not kept; only counts), and headers_with_secret (how
many requests carried the secret anywhere in their headers: must be 0).
With --status N every POST is answered N (for permanent-failure tests).
"""
import argparse
import hashlib
import hmac
import json
import random
import socket
import struct
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

parser = argparse.ArgumentParser()
parser.add_argument("--secret-file", required=True)
parser.add_argument("--fail-rate", type=float, default=0.0)
parser.add_argument("--hang-seconds", type=float, default=2.0)
parser.add_argument("--seed", type=int, default=1)
parser.add_argument("--status", type=int, default=0)
parser.add_argument("--path", default="/hook")
parser.add_argument("--unsigned", action="store_true", help="accept unsigned bodies (Slack); the key is the body's id or its hash")
args = parser.parse_args()
secret = open(args.secret_file, "rb").read().strip()
rng = random.Random(args.seed)
lock = threading.Lock()
accepted = {}
kinds = {}
stats = {"accepted": 0, "bad_signatures": 0, "failures": {"503": 0, "timeout": 0, "reset": 0}, "headers_with_secret": 0, "wrong_path": 0, "bodies": []}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Buffer each answer and send it in one write: separate header and body writes meet the
    # client's delayed ACK and add ~40 ms to every request on loopback.
    wbufsize = 65536

    def log_message(self, *a):
        pass

    def answer(self, status, body=b"{}"):
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        if self.path == "/stats":
            with lock:
                dup = sum(1 for n in accepted.values() if n > 1)
                out = dict(stats, unique=len(accepted), duplicates=dup, kinds=kinds, keys=sorted(accepted))
            self.answer(200, json.dumps(out).encode())
        else:
            self.answer(404)

    def do_POST(self):
        length = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(length)
        with lock:
            if any(secret.decode() in v for v in self.headers.values()):
                stats["headers_with_secret"] += 1
            if self.path != args.path:
                stats["wrong_path"] += 1
        if args.status:
            self.answer(args.status, b'{"error":"configured to refuse"}')
            return
        roll = rng.random() if args.fail_rate > 0 else 1.0
        if roll < args.fail_rate:
            mode = ("503", "timeout", "reset")[int(roll / args.fail_rate * 3) % 3]
            with lock:
                stats["failures"][mode] += 1
            if mode == "503":
                self.answer(503, b'{"error":"try later"}')
            elif mode == "timeout":
                time.sleep(args.hang_seconds)
                self.close_connection = True
                self.connection.close()
            else:
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                self.close_connection = True
                self.connection.close()
            return
        timestamp = self.headers.get("X-CarbonRecovery-Timestamp", "")
        if args.unsigned:
            event = json.loads(body)
            key = self.headers.get("Idempotency-Key") or hashlib.sha256(body).hexdigest()
            with lock:
                accepted[key] = accepted.get(key, 0) + 1
                stats["accepted"] += 1
                if len(stats["bodies"]) < 20:
                    stats["bodies"].append(event)
            self.answer(200, b"ok")
            return
        expected = "sha256=" + hmac.new(secret, timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, self.headers.get("X-CarbonRecovery-Signature", "")):
            with lock:
                stats["bad_signatures"] += 1
            self.answer(401, b'{"error":"bad signature"}')
            return
        key = self.headers.get("Idempotency-Key", "")
        event = json.loads(body)
        with lock:
            accepted[key] = accepted.get(key, 0) + 1
            stats["accepted"] += 1
            kinds[event.get("kind", "?")] = kinds.get(event.get("kind", "?"), 0) + 1
            if len(stats["bodies"]) < 20:
                stats["bodies"].append(event)
        self.answer(200)


class Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128

    def handle_error(self, request, client_address):
        pass


server = Server(("127.0.0.1", 0), Handler)
print(server.server_address[1], flush=True)
server.serve_forever()
