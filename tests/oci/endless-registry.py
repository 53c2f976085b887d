#!/usr/bin/env python3
"""A hostile registry for the OCI tests: its one image's layer claims 1 TiB and the blob never ends.
Listens on 127.0.0.1 (free port), prints the port, serves until killed."""
import hashlib, http.server, json, sys

CONFIG = json.dumps({"rootfs": {"type": "layers", "diff_ids": ["sha256:" + "0" * 64]}}).encode()
CDIGEST = "sha256:" + hashlib.sha256(CONFIG).hexdigest()
LDIGEST = "sha256:" + "1" * 64
MANIFEST = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                       "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                                  "digest": CDIGEST, "size": len(CONFIG)},
                       "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar",
                                   "digest": LDIGEST, "size": 1 << 40}]}).encode()


class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def send(self, body, ctype, length=None):
        self.send_response(200)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body) if length is None else length))
        self.send_header("Docker-Content-Digest", "sha256:" + hashlib.sha256(body).hexdigest())
        self.end_headers()
        return body

    def do_HEAD(self):
        self.do_GET(head=True)

    def do_GET(self, head=False):
        if self.path == "/v2/":
            body = self.send(b"{}", "application/json")
        elif "/manifests/" in self.path:
            body = self.send(MANIFEST, "application/vnd.oci.image.manifest.v1+json")
        elif self.path.endswith(CDIGEST):
            body = self.send(CONFIG, "application/octet-stream")
        elif self.path.endswith(LDIGEST):
            self.send(b"", "application/octet-stream", 1 << 40)
            chunk = b"\0" * (1 << 16)
            try:
                while not head:
                    self.wfile.write(chunk)
            except OSError:
                pass
            return
        else:
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if not head:
            self.wfile.write(body)


srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
print(srv.server_address[1], flush=True)
srv.serve_forever()
