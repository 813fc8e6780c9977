#!/usr/bin/env python3
"""A misbehaving S3 endpoint for retry tests, on 127.0.0.1 at a free port.

    s3_fault_server.py MODE COUNT
      MODE slowdown  the first COUNT requests get 503 SlowDown, later ones an empty listing
      MODE status:N  every request gets HTTP N with an S3 <Error> body
      MODE reset     the first COUNT connections are closed without an answer, then an empty listing

Prints the port on its first line, then one line per request ("METHOD PATH STATUS"), flushed,
so a test can count attempts. Stops on SIGTERM.
"""
import http.server, socket, sys, threading

mode, count = sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 0
seen = 0
lock = threading.Lock()
LISTING = (b'<?xml version="1.0" encoding="UTF-8"?><ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">'
           b'<Name>254carbon-backups</Name><Prefix></Prefix><KeyCount>0</KeyCount><MaxKeys>1</MaxKeys>'
           b'<IsTruncated>false</IsTruncated></ListBucketResult>')

def error_body(code):
    return f'<?xml version="1.0" encoding="UTF-8"?><Error><Code>{code}</Code><Message>injected</Message></Error>'.encode()

class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def answer(self, status, body):
        self.send_response(status)
        self.send_header("Content-Type", "application/xml")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)
        print(f"{self.command} {self.path} {status}", flush=True)

    def handle_any(self):
        global seen
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        with lock:
            seen += 1
            number = seen
        if mode == "slowdown":
            if number <= count:
                return self.answer(503, error_body("SlowDown"))
            return self.answer(200, LISTING)
        if mode.startswith("status:"):
            status = int(mode.split(":")[1])
            code = {403: "AccessDenied", 400: "InvalidArgument", 500: "InternalError", 404: "NoSuchBucket"}.get(status, "Injected")
            return self.answer(status, error_body(code))
        if mode == "reset":
            if number <= count:
                print(f"{self.command} {self.path} reset", flush=True)
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
                self.close_connection = True
                self.connection.close()
                return
            return self.answer(200, LISTING)
        self.answer(500, error_body("UnknownMode"))

    do_GET = do_PUT = do_HEAD = do_DELETE = do_POST = handle_any

server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
print(server.server_address[1], flush=True)
server.serve_forever()
