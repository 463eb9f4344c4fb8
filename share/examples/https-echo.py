# A stand-in HTTPS API for the demo and the tests: answers every GET with
# the request's path and what credential arrived, as JSON.  It never echoes
# a credential: "authorized" says whether the Authorization header equals
# "Bearer $ECHO_EXPECT_TOKEN", and "authorization" is the header with
# anything after the scheme replaced by its length.
# argv: ADDR PORT CERT KEY
import http.server, json, os, ssl, sys

EXPECT = os.environ.get("ECHO_EXPECT_TOKEN", "")

class Echo(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        auth = self.headers.get("Authorization")
        shown = None
        if auth is not None:
            scheme, _, rest = auth.partition(" ")
            shown = "%s <%d bytes>" % (scheme, len(rest))
        body = json.dumps({"path": self.path, "authorization": shown,
                           "authorized": bool(EXPECT) and auth == "Bearer " + EXPECT}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body + b"\n")

    def log_message(self, *args):
        pass

srv = http.server.ThreadingHTTPServer((sys.argv[1], int(sys.argv[2])), Echo)
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(sys.argv[3], sys.argv[4])
# The handshake in the request's thread, on its first read: one slow or
# silent client must not hold up the accept loop.
srv.socket = ctx.wrap_socket(srv.socket, server_side=True, do_handshake_on_connect=False)
srv.serve_forever()
