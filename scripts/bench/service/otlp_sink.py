"""A local OTLP/HTTP sink for scripts/bench-service.sh: answers every POST with 200 and an
empty protobuf body, counting bytes received, so exporters run their real code path."""
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

received = 0

class Sink(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self):
        global received
        length = int(self.headers.get("Content-Length") or 0)
        received += len(self.rfile.read(length))
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass

ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Sink).serve_forever()
