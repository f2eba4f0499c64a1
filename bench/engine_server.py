"""The benchmark's HTTP server: threaded, HTTP/1.1 keep-alive, TCP_NODELAY (without it every
keep-alive request waits ~40 ms for the client's delayed ACK: the Nagle trap).

  GET /status            -> 200 {"status":"up"}
  GET /arm?after_ms=N    -> 200 {"armed":true}: /flip turns up N ms after this request arrived
  GET /flip              -> 200 {"up":false} until then, {"up":true} after

Prints the port it listens on (127.0.0.1, a free one) on its first line of stdout.
"""
import http.server
import json
import sys
import threading
import time
import urllib.parse

FLIP_AT = None
LOCK = threading.Lock()
STATUS = json.dumps({"status": "up"}).encode()


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True

    def log_message(self, *args):
        pass

    def send(self, body):
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        global FLIP_AT
        now = time.monotonic()
        url = urllib.parse.urlsplit(self.path)
        if url.path == "/status":
            self.send(STATUS)
        elif url.path == "/arm":
            after = float(urllib.parse.parse_qs(url.query).get("after_ms", ["1000"])[0])
            with LOCK:
                FLIP_AT = now + after / 1000.0
            self.send(b'{"armed":true}')
        elif url.path == "/flip":
            with LOCK:
                up = FLIP_AT is not None and now >= FLIP_AT
            self.send(json.dumps({"up": up}).encode())
        else:
            self.send_error(404)


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128

    def handle_error(self, request, client_address):
        # A poll stopped mid-request closes its connection: not worth a traceback.
        if not isinstance(sys.exc_info()[1], (BrokenPipeError, ConnectionResetError)):
            super().handle_error(request, client_address)


def main():
    srv = Server(("127.0.0.1", 0), Handler)
    print(srv.server_address[1], flush=True)
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    sys.exit(main())
