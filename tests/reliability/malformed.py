#!/usr/bin/env python3
"""Malformed requests against a running covirt-manager or covirt-agent (issue 14's reliability suite).

Every request is generated from the seed and its own index, so a run replays exactly
(COVIRT_RELIABILITY_SEED, or --seed) and one request alone with --only INDEX. Requests go out on raw
sockets (TLS for the agent, certificate not checked: the agent's key is its own) from a few threads.

Each answer is checked: the server process is alive; no 5xx but the documented ones; every 4xx/5xx
carries a JSON body with an "error" object; an answer (or a close, where the request never ends)
comes within the bound. The last line is the summary; the exit status is 1 when a counter is not 0.
"""
import argparse
import concurrent.futures
import json
import os
import random
import socket
import ssl
import sys
import time

MANAGER_ROUTES = [  # src/manager/http-api.c: service_routes, collection_route, cvm_routes
    ("GET", "/health"), ("GET", "/metrics"), ("GET", "/v1/cvms"), ("POST", "/v1/cvms"),
    ("GET", "/v1/cvms/{id}"), ("DELETE", "/v1/cvms/{id}"), ("GET", "/v1/cvms/{id}/info"),
    ("GET", "/v1/cvms/{id}/domain"), ("GET", "/v1/cvms/{id}/attestation-policy"),
]
AGENT_ROUTES = [  # src/proto/agent-api.h, agent/api.c
    ("GET", "/v1/state"), ("GET", "/v1/challenge"), ("GET", "/v1/result"),
    ("GET", "/v1/attestation?nonce={nonce}"), ("POST", "/v1/attestation/credential"),
    ("PUT", "/v1/algorithm"), ("PUT", "/v1/algorithm/requirements"),
    ("PUT", "/v1/algorithm/wheels/x-1.0-py3-none-any.whl"), ("PUT", "/v1/datasets/a.csv"),
]
# 5xx a client may be told (docs/openapi.yaml, docs/agent.md), by what their body says: 503 when busy or
# libvirt does not answer; the agent's attestation routes 501 under --platform none
ALLOWED_5XX = {"manager": {503: b""}, "agent": {503: b"", 501: b"--platform none"}}

SPEC = {"name": "rel-x", "platform": "vtpm", "vcpus": 1, "memory": "256M", "ttl": "1h", "debug": False,
        "cmdline": "console=null quiet",
        "computation": {"id": "c1", "name": "n", "datasets": [{"hash": "00", "filename": "a.csv"}],
                        "algorithm": {"hash": "00"}, "result_consumers": []}}
CREDENTIAL = {"credential_blob": "AAAA", "secret": "AAAA"}
ODD_VALUES = [None, True, False, 0, -1, 2**63, 2**64, -2**63 - 1, 1e308, -0.0, "", "\u0000", "\ufffe", "\uffff",
              "\ud800", "../../etc/passwd", "/etc/shadow", "a" * 70000, "\u202e", "<x/>", "]]>", "&amp;",
              "%00", "'", '"', "\\", [], {}, [[]], {"": {}}, "1e999", "0x10", "256M" * 100, "\U0001F600"]


class Request:
    def __init__(self, kind, data, note, expect_close=False, pipelined=1, allow=()):
        self.kind, self.data, self.note = kind, data, note
        self.expect_close, self.pipelined = expect_close, pipelined
        self.allow = allow   # 5xx that HTTP itself prescribes for this request (RFC 9112)


def mutate_json(rng, value, depth=0):
    """A copy of value with random members changed, dropped, retyped or added."""
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            r = rng.random()
            if r < 0.15:
                continue
            out[k] = rng.choice(ODD_VALUES) if r < 0.35 else mutate_json(rng, v, depth + 1)
        if rng.random() < 0.2:
            out[rng.choice(["x", "", "name", "\u0000k", "é", "a" * 300])] = rng.choice(ODD_VALUES)
        return out
    if isinstance(value, list):
        return [mutate_json(rng, v, depth + 1) for v in value] + rng.sample(ODD_VALUES, rng.randint(0, 2))
    if isinstance(value, str) and rng.random() < 0.5:
        i = rng.randint(0, len(value))
        return value[:i] + rng.choice(["\u0000", "\ufffe", "\x7f", "é", "\n", "..", "/", "%", " ", "\t"]) + value[i:]
    if isinstance(value, int) and not isinstance(value, bool) and rng.random() < 0.5:
        return rng.choice([0, -1, 513, 65536, 2**31, 2**53 + 1, value * 1000])
    return value


def json_body(rng, target):
    base = SPEC if target == "manager" else CREDENTIAL
    r = rng.random()
    if r < 0.6:
        doc = mutate_json(rng, base)
        if target == "manager" and isinstance(doc.get("name"), str) and rng.random() < 0.7:
            doc["name"] = "rel-%d" % rng.randrange(10**9)   # mostly unique: a valid one is created, then deleted
        text = json.dumps(doc, ensure_ascii=rng.random() < 0.5)
    elif r < 0.75:
        text = json.dumps(rng.choice(ODD_VALUES))
    else:
        text = json.dumps(base)
        cut = rng.randint(0, len(text))
        text = text[:cut] + rng.choice(["", "}", ",", "]]", "/*c*/", "'x'", "NaN", "\x00", "}{", "\ud800"]) + \
            text[cut:]
    return text.encode("utf-8", "surrogatepass")


def deep(rng):
    n = rng.choice([33, 100, 1000, 100000])
    return (rng.choice(["[" * n + "]" * n, '{"a":' * n + "1" + "}" * n, "[" * n])).encode()


def bad_utf8(rng):
    junk = rng.choice([b"\xff", b"\xc0\xaf", b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"\x80", b"\xe2\x82", b"\xfe\xfe"])
    return b'{"name":"rel-' + junk + b'","memory":"256M"}'


def route_path(rng, target, path, ids):
    return path.replace("{id}", rng.choice(ids + ["nope", "0" * 64, "a" * 65, "..", "%2e%2e"])) \
               .replace("{nonce}", rng.choice(["00" * 32, "zz", "", "0" * 10000]))


def build(method, path, headers, body, version="HTTP/1.1", cl=None):
    lines = ["%s %s %s" % (method, path, version)]
    lines += ["%s: %s" % (k, v) for k, v in headers]
    if body is not None and cl is not False:
        lines.append("Content-Length: %d" % (len(body) if cl is None else cl))
    head = ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8", "surrogateescape")
    return head + (body or b"")


def ct(rng):
    return rng.choice(["application/json"] * 4 + ["application/json; charset=utf-8", "application/octet-stream"])


def gen_body(rng, target, routes, ids):
    """A route of the table with a generated body, the method right or not."""
    method, path = rng.choice(routes)
    path = route_path(rng, target, path, ids)
    body = rng.choice([json_body] * 6 + [lambda r, t: deep(r), lambda r, t: bad_utf8(r)])(rng, target)
    if rng.random() < 0.2:
        method = rng.choice(["GET", "POST", "PUT", "DELETE", "HEAD"])
    headers = [("Host", "127.0.0.1"), ("Content-Type", ct(rng)), ("Connection", "close")]
    if method == "PUT" and rng.random() < 0.7:   # the agent's signed-upload headers, garbled
        headers += [("X-Covirt-Challenge", rng.choice(["", "AAAA", "x" * 5000])),
                    ("X-Covirt-Signature", rng.choice(["", "!!", "A" * 3000])),
                    ("X-Covirt-Content-SHA3-256", rng.choice(["", "00" * 32, "zz"]))]
    return Request("body", build(method, path, headers, body), "%s %s" % (method, path[:60]))


def gen_truncated(rng, target, routes, ids):
    method, path = rng.choice([r for r in routes if r[0] in ("POST", "PUT")])
    body = json_body(rng, target)
    cut = rng.randint(0, max(0, len(body) - 1))
    data = build(method, route_path(rng, target, path, ids), [("Host", "127.0.0.1"), ("Content-Type", ct(rng))],
                 body[:cut], cl=len(body) + rng.randint(1, 10**6))
    return Request("truncated", data, "%s %s short body" % (method, path), expect_close=True)


def gen_content_type(rng, target, routes, ids):
    method, path = rng.choice([r for r in routes if r[0] in ("POST", "PUT")])
    ctype = rng.choice(["text/plain", "", "application/xml", "multipart/form-data; boundary=x", "json",
                        "application/json; charset=latin1", "application/x-www-form-urlencoded", "*/*", "a" * 5000])
    data = build(method, route_path(rng, target, path, ids), [("Host", "h"), ("Content-Type", ctype),
                                                            ("Connection", "close")], json_body(rng, target))
    return Request("content-type", data, "%s %s as %r" % (method, path, ctype[:40]))


def gen_method(rng, target, routes, ids):
    _, path = rng.choice(routes)
    method = rng.choice(["PATCH", "OPTIONS", "TRACE", "CONNECT", "FOO", "get", "G\x00T", "M" * 5000, "PROPFIND",
                         "POST", "PUT", "DELETE", "BREW", "GET GET"])
    body = json_body(rng, target) if rng.random() < 0.5 else None
    data = build(method, route_path(rng, target, path, ids), [("Host", "h"), ("Connection", "close")], body)
    return Request("method", data, "%r %s" % (method[:20], path))


def gen_path(rng, target, routes, ids):
    _, base = rng.choice(routes)
    base = route_path(rng, target, base, ids)
    path = rng.choice([base + "\x00", base + "%00", base + "/%00x", "/v1/cvms/" + "a" * rng.choice([65, 5000, 70000]),
                       base + "/../../../etc/passwd", "/../" + base, base + "/.", "//" + base, base + "//",
                       "/v1/%2e%2e/health", "/v1/cvms/%2F..%2F", "*", "http://127.0.0.1" + base, base + "?" + "a=" * 3000,
                       base + "#frag", "v1/cvms", base + "\\..\\x", base + "/\xff\xfe", base + "/%ff", base + "%",
                       base.replace("/", "/./"), "/v1/datasets/..%2f..%2fx", "/v1/datasets/%2e%2e", "/v1/datasets/",
                       "/v1/algorithm/wheels/../../x", base + "\t", base + " x"])
    method = rng.choice(["GET", "POST", "PUT", "DELETE"])
    body = json_body(rng, target) if method in ("POST", "PUT") else None
    data = build(method, path, [("Host", "h"), ("Connection", "close")], body)
    return Request("path", data, "%s %r" % (method, path[:60]))


def gen_headers(rng, target, routes, ids):
    method, path = rng.choice(routes)
    path = route_path(rng, target, path, ids)
    body = json_body(rng, target)
    odd = rng.choice([
        [("Content-Length", str(len(body))), ("Content-Length", str(len(body) + 1))],
        [("Content-Length", "-1")], [("Content-Length", "99999999999999999999999")], [("Content-Length", "1e3")],
        [("Transfer-Encoding", rng.choice(["gzip", "chunked, gzip", "identity", "x" * 100, "chunked"]))],
        [("Transfer-Encoding", "chunked"), ("Content-Length", str(len(body)))],
        [("X-" + "a" * 9000, "1")], [("X-A", "b" * 70000)], [("X-%d" % i, "v") for i in range(300)],
        [("Bad Header", "x")], [("X-Nul", "a\x00b")], [("X-Fold", "a\r\n b")], [("", "empty name")],
        [("Host", "")], [("Host", "a"), ("Host", "b")], [("Expect", "100-continue")], [("Expect", "bogus")],
        [("Connection", "Upgrade"), ("Upgrade", "h2c")], [("Content-Type", "application/json\x00")],
        [("Authorization", "Bearer " + "A" * 10000)], [("X-Utf8", "\xff\xfe")], [("Range", "bytes=0-1,-5")],
    ])
    if rng.random() < 0.5 and not any(h[0] == "Host" for h in odd):
        odd.append(("Host", "127.0.0.1"))
    odd.append(("Connection", "close"))
    no_cl = any(h[0] in ("Content-Length", "Transfer-Encoding") for h in odd)
    if any(h[0] == "Transfer-Encoding" and "chunked" in h[1] for h in odd):
        chunk = rng.choice([b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body), b"zz\r\n" + body, b"ffffffffffffffffff\r\n",
                            b"5\r\nab\r\n0\r\n\r\n", b"0\r\nX-Trailer: " + b"a" * 10000 + b"\r\n\r\n"])
        body = chunk
    data = build(method, path, odd, body, cl=False if no_cl else None)
    # a transfer coding the server does not implement: 501 (RFC 9112, 6.1)
    te = [h[1] for h in odd if h[0] == "Transfer-Encoding"]
    allow = (501,) if te and te[0] not in ("chunked", "identity") else ()
    return Request("header", data, "%s %s with %r" % (method, path[:40], [h[0][:20] for h in odd]),
                   expect_close=no_cl, allow=allow)


def gen_version(rng, target, routes, ids):
    method, path = rng.choice(routes)
    path = route_path(rng, target, path, ids)
    version = rng.choice(["HTTP/1.0", "HTTP/1.0", "HTTP/0.9", "HTTP/2.0", "HTTP/3", "HTTP/9.9", "HTTP/1.01", "http/1.1",
                          "FOO/1.1", "HTTP/1.1 extra", "HTTP/", ""])
    body = json_body(rng, target) if method in ("POST", "PUT") else None
    headers = [] if rng.random() < 0.5 else [("Host", "h")]
    if version == "":
        data = ("%s %s\r\n" % (method, path)).encode()   # HTTP/0.9
    else:
        data = build(method, path, headers, body, version=version)
    # a major version other than HTTP/1: 505 (RFC 9110, 15.6.6)
    return Request("version", data, "%s %s %r" % (method, path[:40], version), expect_close=True,
                   allow=() if version == "HTTP/1.0" else (505,))


def gen_pipelined(rng, target, routes, ids):
    n = rng.randint(2, 6)
    parts = []
    for _ in range(n):
        method, path = rng.choice(routes)
        path = route_path(rng, target, path, ids)
        if method in ("POST", "PUT") or rng.random() < 0.3:
            parts.append(build(method, path, [("Host", "h"), ("Content-Type", "application/json")],
                               json_body(rng, target)))
        else:
            parts.append(build(method, path, [("Host", "h")], None))
    return Request("pipelined", b"".join(parts), "%d pipelined" % n, expect_close=True, pipelined=n)


def gen_garbage(rng, target, routes, ids):
    data = bytes(rng.randrange(256) for _ in range(rng.randint(1, 3000)))
    if rng.random() < 0.5:
        data += b"\r\n\r\n"
    return Request("garbage", data, "%d random bytes" % len(data), expect_close=True)


GENERATORS = [(gen_body, 30), (gen_truncated, 6), (gen_content_type, 8), (gen_method, 8), (gen_path, 14),
              (gen_headers, 14), (gen_version, 8), (gen_pipelined, 6), (gen_garbage, 6)]


def generate(seed, index, target, ids):
    rng = random.Random("%s/%d" % (seed, index))
    routes = MANAGER_ROUTES if target == "manager" else AGENT_ROUTES
    gens, weights = zip(*GENERATORS)
    return rng.choices(gens, weights)[0](rng, target, routes, ids)


class Reader:
    """HTTP/1.1 responses off one socket, against a deadline."""

    def __init__(self, sock, deadline):
        self.sock, self.deadline, self.buf = sock, deadline, b""

    def fill(self):
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError
        self.sock.settimeout(left)
        data = self.sock.recv(65536)
        if not data:
            raise EOFError
        self.buf += data

    def line(self):
        while b"\r\n" not in self.buf:
            self.fill()
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def take(self, n):
        while len(self.buf) < n:
            self.fill()
        data, self.buf = self.buf[:n], self.buf[n:]
        return data

    def response(self, head_only):
        status = int(self.line().split(b" ", 2)[1])
        headers = {}
        while True:
            line = self.line()
            if not line:
                break
            k, _, v = line.partition(b":")
            headers[k.strip().lower().decode("latin-1")] = v.strip().decode("latin-1")
        body = b""
        if head_only or status in (204, 304) or 100 <= status < 200:
            pass
        elif headers.get("transfer-encoding", "").lower() == "chunked":
            while True:
                size = int(self.line().split(b";")[0], 16)
                if size == 0:
                    while self.line():
                        pass
                    break
                body += self.take(size)
                self.take(2)
        elif "content-length" in headers:
            body = self.take(int(headers["content-length"]))
        else:
            try:
                while True:
                    self.fill()
            except EOFError:
                body, self.buf = self.buf, b""
        return status, headers, body


def alive(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except OSError:
        return False


class Run:
    def __init__(self, args):
        self.args = args
        self.counts = {"requests": 0, "answers": 0, "crashes": 0, "5xx": 0, "hangs": 0, "nojson": 0}
        self.failures = []
        self.created = []
        self.tls = None
        if args.url.startswith("https:"):
            self.tls = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            self.tls.check_hostname = False
            self.tls.verify_mode = ssl.CERT_NONE
        hostport = args.url.split("//", 1)[1].rstrip("/")
        host, _, port = hostport.rpartition(":")
        self.addr = (host.strip("[]"), int(port))

    def connect(self, deadline):
        sock = socket.create_connection(self.addr, timeout=max(0.1, deadline - time.monotonic()))
        if self.tls:
            sock = self.tls.wrap_socket(sock, server_hostname="covirt")
        return sock

    def fail(self, counter, index, req, what):
        self.counts[counter] += 1
        self.failures.append("%s: request %d (%s, %s): %s" % (counter, index, req.kind, req.note, what))

    def check(self, index, req, status, headers, body, head=False):
        self.counts["answers"] += 1
        if status >= 500:
            allowed = ALLOWED_5XX[self.args.target].get(status)
            # a HEAD answer has no body to say why: its route must be one the 5xx is documented for
            documented = allowed is not None and (allowed in body or (head and b"/v1/attestation" in req.data))
            if status not in req.allow and not documented:
                self.fail("5xx", index, req, "answered %d %r" % (status, body[:200]))
        if status >= 400:
            try:
                ok = "json" in headers.get("content-type", "") and (head or isinstance(json.loads(body).get("error"),
                                                                                        dict))
            except (ValueError, AttributeError):
                ok = False
            if not ok:
                self.fail("nojson", index, req, "%d with %r, body %r" % (status, headers.get("content-type"),
                                                                        body[:120]))
        if self.args.target == "manager" and status == 201:
            try:
                self.created.append(json.loads(body)["id"])
            except (ValueError, KeyError, TypeError):
                pass

    def one(self, index):
        req = generate(self.args.seed, index, self.args.target, self.args.ids)
        deadline = time.monotonic() + self.args.bound
        answered = 0
        try:
            with self.connect(deadline) as sock:
                sock.sendall(req.data)
                reader = Reader(sock, deadline)
                head = req.data.startswith(b"HEAD ")
                for _ in range(req.pipelined):
                    self.check(index, req, *reader.response(head), head=head)
                    answered += 1
        except TimeoutError:
            self.fail("hangs", index, req, "nothing within %d s after %d answers" % (self.args.bound, answered))
        except (EOFError, ConnectionError, ssl.SSLError, OSError, ValueError, IndexError) as e:
            # a close is an answer to a request that never ends, or after the answers
            if not alive(self.args.pid):
                self.fail("crashes", index, req, "the server is gone (%r)" % e)
            elif answered == 0 and not req.expect_close and not isinstance(e, (EOFError, ConnectionResetError)):
                self.fail("nojson", index, req, "no answer: %r" % e)
        return index

    def run(self, indexes):
        with concurrent.futures.ThreadPoolExecutor(self.args.threads) as pool:
            for _ in pool.map(self.one, indexes):
                self.counts["requests"] += 1
                if self.counts["crashes"]:
                    break
        if not alive(self.args.pid):
            self.counts["crashes"] = max(1, self.counts["crashes"])


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--target", choices=["manager", "agent"], required=True)
    p.add_argument("--url", required=True)
    p.add_argument("--pid", type=int, required=True, help="the server's process, to tell a crash from a close")
    p.add_argument("--seed", default=os.environ.get("COVIRT_RELIABILITY_SEED") or str(random.randrange(2**32)))
    p.add_argument("--count", type=int, default=1000)
    p.add_argument("--only", type=int, help="send request INDEX alone")
    p.add_argument("--ids", default="", help="ids that exist, comma-separated")
    p.add_argument("--bound", type=int, default=15, help="seconds an answer may take")
    p.add_argument("--threads", type=int, default=16)
    p.add_argument("--created-out", help="write the ids of CVMs created (201) to this file")
    args = p.parse_args()
    args.ids = [i for i in args.ids.split(",") if i]
    print("reliability: %s-malformed seed=%s (COVIRT_RELIABILITY_SEED=%s replays it)" %
          (args.target, args.seed, args.seed), flush=True)
    run = Run(args)
    start = time.monotonic()
    run.run([args.only] if args.only is not None else range(args.count))
    for f in run.failures[:20]:
        print("  " + f)
    if args.created_out:
        with open(args.created_out, "w") as f:
            f.write("\n".join(run.created))
    c = run.counts
    print("reliability: %s-malformed seed=%s requests=%d answers=%d crashes=%d 5xx=%d hangs=%d nojson=%d (%.0f s)" %
          (args.target, args.seed, c["requests"], c["answers"], c["crashes"], c["5xx"], c["hangs"], c["nojson"],
           time.monotonic() - start), flush=True)
    return 1 if c["crashes"] or c["5xx"] or c["hangs"] or c["nojson"] else 0


if __name__ == "__main__":
    sys.exit(main())
