#!/usr/bin/env python3
"""A loopback Key Broker Service that behaves as Trustee's KBS does for RCAR 0.4.0
(docs/remote-resources.md lists what it reproduces). It shares no code with covirt: the `tpm`
evidence is parsed and its quote verified here, in Python, with `cryptography`.

  test-kbs.py serve --port-file F --resource default/key/k=FILE [--policy P.json] [--doc-variant]
  test-kbs.py jwe --jwk '{"kty":"EC",...}' --plaintext-hex HEX      (a JWE from python3-jwcrypto)
  test-kbs.py files --dir D --port-file F [--cert C --key K]          (static files, HTTPS with C)

Policy (JSON): {"pcrs": {"16": "hex", ...}, "trusted_ak_sha256": ["hex", ...], "tees": ["tpm", ...]}:
the quoted PCRs must hold those values, the AK's DER SubjectPublicKeyInfo hash one of those.
"""
import argparse
import base64
import hashlib
import http.server
import json
import os
import re
import secrets
import struct
import sys
import threading
import time
import uuid
from email.utils import formatdate

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.keywrap import aes_key_wrap

ERR = "https://github.com/confidential-containers/kbs/errors/"
TEES = {"az-snp-vtpm", "az-tdx-vtpm", "nvidia", "sgx", "snp", "tdx", "cca", "csv", "se", "hygondcu", "tpm",
        "sample", "sampledevice"}
SEGMENT = re.compile(r"^[A-Za-z0-9_-][A-Za-z0-9_.-]*$")
BODY_MAX = 2 << 20


class KbsError(Exception):
    def __init__(self, status, variant, detail):
        super().__init__(detail)
        self.status, self.variant, self.detail = status, variant, detail


def deny(variant, detail):
    return KbsError(401, variant, detail)


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64url_decode(text):
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def canonical(value):
    """RFC 8785 for what runtime-data holds (objects, ASCII strings): sorted keys, no white space."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def tee_pubkey(value):
    """Trustee's TeePubKey: only the known members survive its re-serialisation."""
    if not isinstance(value, dict):
        raise deny("AttestationError", "tee-pubkey: not an object")
    members = {"EC": ("kty", "crv", "alg", "x", "y"), "RSA": ("kty", "alg", "n", "e")}.get(value.get("kty"))
    if not members or any(not isinstance(value.get(m), str) for m in members):
        raise deny("AttestationError", "tee-pubkey: unknown or incomplete key")
    return {m: value[m] for m in members}


# --- TPM 2.0 quote, parsed from its marshalled form (TPM 2.0 Part 2, TPMS_ATTEST, TPMT_SIGNATURE) ---

class Reader:
    def __init__(self, data):
        self.data, self.off = data, 0

    def take(self, n):
        if self.off + n > len(self.data):
            raise deny("AttestationError", "tpm: truncated structure")
        out = self.data[self.off:self.off + n]
        self.off += n
        return out

    def u8(self):
        return self.take(1)[0]

    def u16(self):
        return struct.unpack(">H", self.take(2))[0]

    def u32(self):
        return struct.unpack(">I", self.take(4))[0]

    def tpm2b(self):
        return self.take(self.u16())


def parse_quote(message):
    r = Reader(message)
    if r.u32() != 0xFF544347 or r.u16() != 0x8018:
        raise deny("AttestationError", "tpm: not a TPMS_ATTEST of a quote")
    r.tpm2b()                      # qualifiedSigner
    extra = r.tpm2b()              # extraData
    r.take(17 + 8)                 # clockInfo, firmwareVersion
    selected = []
    for _ in range(r.u32()):
        alg, size = r.u16(), r.u8()
        bits = r.take(size)
        if alg != 0x000B:
            raise deny("AttestationError", "tpm: a PCR bank other than SHA-256")
        selected += [i for i in range(size * 8) if bits[i // 8] >> (i % 8) & 1]
    digest = r.tpm2b()
    if r.off != len(message):
        raise deny("AttestationError", "tpm: trailing bytes after the quote")
    return extra, selected, digest


def verify_tpm(evidence, digest, policy):
    try:
        ak_der = base64.b64decode(evidence["ak_public"], validate=True)
        quote = evidence["tpm_quote"]
        message = base64.b64decode(quote["message"], validate=True)
        signature = Reader(base64.b64decode(quote["signature"], validate=True))
        pcrs = [bytes.fromhex(p) for p in quote["pcrs"]]
    except (KeyError, TypeError, ValueError) as e:
        raise deny("AttestationError", f"tpm: malformed evidence ({e})")
    if len(pcrs) != 24 or any(len(p) != 32 for p in pcrs):
        raise deny("AttestationError", "tpm: 24 SHA-256 PCRs expected")
    trusted = policy.get("trusted_ak_sha256")
    if trusted is not None and hashlib.sha256(ak_der).hexdigest() not in trusted:
        raise deny("AttestationError", "tpm: the AK is not trusted")
    if signature.u16() != 0x0014 or signature.u16() != 0x000B:
        raise deny("AttestationError", "tpm: not an RSASSA-SHA256 signature")
    try:
        serialization.load_der_public_key(ak_der).verify(signature.tpm2b(), message, padding.PKCS1v15(),
                                                         hashes.SHA256())
    except (InvalidSignature, ValueError, TypeError):
        raise deny("AttestationError", "tpm: the quote's signature does not verify")
    extra, selected, pcr_digest = parse_quote(message)
    if hashlib.sha256(b"".join(pcrs[i] for i in selected if i < 24)).digest() != pcr_digest:
        raise deny("AttestationError", "tpm: the PCR values do not match the quote's digest")
    if extra != digest[:32]:
        raise deny("AttestationError", "tpm: the quote's qualifying data is not the runtime-data digest")
    for index, want in policy.get("pcrs", {}).items():
        if pcrs[int(index)].hex() != want.lower():
            raise deny("AttestationError", f"tpm: PCR {index} is not the value the policy expects")


def verify_sample(evidence, digest, policy):
    if not isinstance(evidence, dict) or not isinstance(evidence.get("svn"), str):
        raise deny("AttestationError", "sample: svn missing")
    if base64.b64decode(evidence.get("report_data", "")) != digest:
        raise deny("AttestationError", "sample: report_data is not the runtime-data digest")


# --- the JWE Trustee's kbs/src/jwe answers with ---

def jwe_for(pubkey, plaintext):
    cek, iv = secrets.token_bytes(32), secrets.token_bytes(12)
    if pubkey["kty"] == "EC" and pubkey["crv"] == "P-256" and pubkey["alg"] == "ECDH-ES+A256KW":
        try:
            peer = ec.EllipticCurvePublicNumbers(int.from_bytes(b64url_decode(pubkey["x"]), "big"),
                                                 int.from_bytes(b64url_decode(pubkey["y"]), "big"),
                                                 ec.SECP256R1()).public_key()
        except ValueError:
            raise deny("JweError", "unusable tee-pubkey")
        eph = ec.generate_private_key(ec.SECP256R1())
        z = eph.exchange(ec.ECDH(), peer)
        alg = b"ECDH-ES+A256KW"
        kek = hashlib.sha256(b"\0\0\0\1" + z + struct.pack(">I", len(alg)) + alg + b"\0" * 8 +
                             struct.pack(">I", 256)).digest()
        nums = eph.public_key().public_numbers()
        epk = {"crv": "P-256", "kty": "EC", "x": b64url(nums.x.to_bytes(32, "big")),
               "y": b64url(nums.y.to_bytes(32, "big"))}
        header = {"alg": "ECDH-ES+A256KW", "enc": "A256GCM", "epk": epk}
        encrypted_key = aes_key_wrap(kek, cek)
    elif pubkey["kty"] == "RSA" and pubkey["alg"] == "RSA-OAEP-256":
        key = rsa.RSAPublicNumbers(int.from_bytes(b64url_decode(pubkey["e"]), "big"),
                                   int.from_bytes(b64url_decode(pubkey["n"]), "big")).public_key()
        header = {"alg": "RSA-OAEP-256", "enc": "A256GCM"}
        encrypted_key = key.encrypt(cek, padding.OAEP(padding.MGF1(hashes.SHA256()), hashes.SHA256(), None))
    else:
        raise deny("JweError", "unsupported tee-pubkey")
    protected = b64url(json.dumps(header, separators=(",", ":")).encode())
    sealed = AESGCM(cek).encrypt(iv, plaintext, protected.encode())
    return {"protected": protected, "encrypted_key": b64url(encrypted_key), "iv": b64url(iv),
            "ciphertext": b64url(sealed[:-16]), "tag": b64url(sealed[-16:])}


class Kbs:
    def __init__(self, args):
        self.resources, self.sessions, self.lock = {}, {}, threading.Lock()
        for item in args.resource:
            path, _, file = item.partition("=")
            with open(file, "rb") as f:
                self.resources[path] = f.read()
        self.policy = {}
        if args.policy:
            with open(args.policy) as f:
                self.policy = json.load(f)
        self.timeout, self.doc_variant = args.session_timeout, args.doc_variant
        self.signer = ec.generate_private_key(ec.SECP256R1())
        self.log = []

    def token(self, pubkey):
        header = b64url(b'{"alg":"ES256","typ":"JWT"}')
        now = int(time.time())
        claims = b64url(json.dumps({"iat": now, "exp": now + 300, "tee-pubkey": pubkey}).encode())
        sig = es256_raw(self.signer.sign(f"{header}.{claims}".encode(), ec.ECDSA(hashes.SHA256())))
        return f"{header}.{claims}.{b64url(sig)}"

    def token_pubkey(self, token):
        try:
            header, claims, sig = token.split(".")
            self.signer.public_key().verify(sig_der(b64url_decode(sig)), f"{header}.{claims}".encode(),
                                            ec.ECDSA(hashes.SHA256()))
            body = json.loads(b64url_decode(claims))
        except (ValueError, InvalidSignature):
            raise deny("TokenVerifierError", "the token does not verify")
        if body["exp"] < time.time():
            raise deny("TokenVerifierError", "the token has expired")
        return body["tee-pubkey"]

    def session(self, cookie):
        with self.lock:
            s = self.sessions.get(cookie)
        if not s or s["expiry"] < time.time():
            raise deny("InvalidRequest", "no session or the session has expired")
        return s

    def auth(self, body):
        if not isinstance(body, dict) or not {"version", "tee", "extra-params"} <= body.keys():
            raise deny("InvalidRequest", "Request: version, tee and extra-params are required")
        if body["version"] != "0.4.0":
            raise deny("AttestationError", "Attestation error: KBS Client Protocol Version Mismatch: expect "
                       f"=0.4.0 while the request is {body['version']}")
        if body["tee"] not in TEES:
            raise deny("InvalidRequest", f"unknown tee {body['tee']}")
        sid = uuid.uuid4().hex
        session = {"tee": body["tee"], "nonce": base64.b64encode(secrets.token_bytes(32)).decode(),
                   "expiry": time.time() + self.timeout, "token": None}
        with self.lock:
            self.sessions[sid] = session
        extra = {} if self.doc_variant else ""
        return sid, {"nonce": session["nonce"], "extra-params": extra}

    def attest(self, sid, body):
        s = self.session(sid)
        if s["token"]:
            return {"token": s["token"]}
        try:
            runtime, evidence = body["runtime-data"], body["tee-evidence"]
            nonce, pubkey = runtime["nonce"], tee_pubkey(runtime["tee-pubkey"])
            primary, additional = evidence["primary_evidence"], evidence["additional_evidence"]
        except (KeyError, TypeError):
            raise deny("InvalidRequest", "Attestation does not follow the 0.4.0 schema")
        if not isinstance(primary, dict) or not isinstance(additional, str) or not isinstance(nonce, str):
            raise deny("InvalidRequest", "Attestation does not follow the 0.4.0 schema")
        init = body.get("init-data")
        if init is not None and (not isinstance(init, dict) or init.get("format") != "toml"):
            raise deny("AttestationError", "init-data: only the toml format is accepted")
        if nonce != s["nonce"]:
            raise deny("AttestationError", "the nonce is not the session's")
        digest = hashlib.sha384(canonical({"tee-pubkey": pubkey, "nonce": nonce,
                                           "additional-evidence": additional})).digest()
        tees = self.policy.get("tees")
        if tees is not None and s["tee"] not in tees:
            raise deny("AttestationError", f"the policy takes no {s['tee']} evidence")
        verifier = {"tpm": verify_tpm, "sample": verify_sample}.get(s["tee"])
        if not verifier:
            raise deny("AttestationError", f"the test KBS has no {s['tee']} verifier")
        verifier(primary, digest, self.policy)
        s["token"], s["pubkey"] = self.token(pubkey), pubkey
        return {"token": s["token"]}

    def resource(self, path, cookie, authorization):
        parts = path.split("/")
        if len(parts) != 3 or not all(SEGMENT.match(p) for p in parts):
            raise deny("PluginInternalError", "invalid resource path")
        pubkey = None
        if cookie:
            try:
                s = self.session(cookie)
                pubkey = s.get("pubkey")
            except KbsError:
                pass
        if not pubkey:
            if not authorization or not authorization.startswith("Bearer "):
                raise deny("TokenNotFound", "no attested session or token")
            pubkey = self.token_pubkey(authorization[7:])
        if path not in self.resources:
            if self.doc_variant:
                raise KbsError(404, "ResourceNotFound", f"no resource {path}")
            raise deny("PluginInternalError", f"Plugin internal error: no resource {path}")
        return jwe_for(pubkey, self.resources[path])


def sig_der(raw):
    from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
    if len(raw) != 64:
        raise ValueError("not an ES256 signature")
    return encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big"))


def es256_raw(der):
    from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
    r, s = decode_dss_signature(der)
    return r.to_bytes(32, "big") + s.to_bytes(32, "big")


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    kbs = None

    def log_message(self, fmt, *args):
        sys.stderr.write("test-kbs: " + fmt % args + "\n")

    def reply(self, status, body, cookie=None, content_type="application/json"):
        data = json.dumps(body).encode()
        self.send_response(status)
        if content_type:
            self.send_header("Content-Type", content_type)
        if cookie:
            expires = formatdate(self.kbs.sessions[cookie]["expiry"], usegmt=True)
            self.send_header("Set-Cookie", f"kbs-session-id={cookie}; Expires={expires}")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def cookie(self):
        for part in (self.headers.get("Cookie") or "").split(";"):
            name, _, value = part.strip().partition("=")
            if name == "kbs-session-id":
                return value
        return None

    def body(self):
        length = int(self.headers.get("Content-Length") or 0)
        if length > BODY_MAX:
            raise deny("InvalidRequest", "body over 2 MiB")
        try:
            return json.loads(self.rfile.read(length))
        except ValueError:
            raise deny("InvalidRequest", "the body is not JSON")

    def route(self, method):
        self.kbs.log.append((method, self.path))
        path = self.path.split("?", 1)[0]
        if not path.startswith("/kbs/v0/"):
            raise KbsError(404, "InvalidRequestPath", "not under /kbs/v0")
        first, _, rest = path[len("/kbs/v0/"):].partition("/")
        if method == "POST" and first == "auth" and not rest:
            sid, challenge = self.kbs.auth(self.body())
            return self.reply(200, challenge, cookie=sid)
        if method == "POST" and first == "attest" and not rest:
            sid = self.cookie()
            if not sid:
                raise deny("InvalidRequest", "no kbs-session-id cookie")
            answer = self.kbs.attest(sid, self.body())
            return self.reply(200, answer, cookie=sid)
        if method == "GET" and first == "resource":
            return self.reply(200, self.kbs.resource(rest, self.cookie(), self.headers.get("Authorization")))
        raise KbsError(404, "PluginNotFound", f"no plugin {first}")

    def handle_method(self, method):
        try:
            self.route(method)
        except KbsError as e:
            # Trustee sets no content type on its errors
            self.reply(e.status, {"type": ERR + e.variant, "detail": e.detail}, content_type=None)

    def do_GET(self):
        self.handle_method("GET")

    def do_POST(self):
        self.handle_method("POST")


def run(server, port_file):
    """Tells the test the port (a file that appears whole) and serves."""
    with open(port_file + ".tmp", "w") as f:
        f.write(str(server.server_address[1]))
    os.rename(port_file + ".tmp", port_file)
    server.serve_forever()


def serve(args):
    Handler.kbs = Kbs(args)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    run(server, args.port_file)


def serve_files(args):
    """Static files over HTTPS (a TLS key and certificate the test made) or plain HTTP, on 127.0.0.1."""
    import functools
    import ssl

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, fmt, *a):
            sys.stderr.write("test-files: " + fmt % a + "\n")

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=args.dir))
    if args.cert:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(args.cert, args.key)
        server.socket = context.wrap_socket(server.socket, server_side=True)
    run(server, args.port_file)


def make_jwe(args):
    """A JWE for the client's key from python3-jwcrypto, an implementation independent of covirt's."""
    from jwcrypto import jwe, jwk
    key = jwk.JWK(**json.loads(args.jwk))
    header = {"alg": key.get("alg"), "enc": "A256GCM"}
    protected = json.dumps(header) + ("\n" if args.newline else "")
    token = jwe.JWE(bytes.fromhex(args.plaintext_hex), protected=protected,
                    aad=args.aad.encode() if args.aad else None)
    token.add_recipient(key)
    sys.stdout.write(token.serialize())


def main():
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="command", required=True)
    s = sub.add_parser("serve")
    s.add_argument("--port", type=int, default=0)
    s.add_argument("--port-file", required=True)
    s.add_argument("--resource", action="append", default=[])
    s.add_argument("--policy")
    s.add_argument("--session-timeout", type=float, default=300)
    s.add_argument("--doc-variant", action="store_true",
                   help="404 for a missing resource and extra-params {} (Trustee's documentation)")
    j = sub.add_parser("jwe")
    j.add_argument("--jwk", required=True)
    j.add_argument("--plaintext-hex", required=True)
    j.add_argument("--aad")
    j.add_argument("--newline", action="store_true")
    f = sub.add_parser("files")
    f.add_argument("--dir", required=True)
    f.add_argument("--port-file", required=True)
    f.add_argument("--cert")
    f.add_argument("--key")
    args = parser.parse_args()
    {"serve": serve, "jwe": make_jwe, "files": serve_files}[args.command](args)


if __name__ == "__main__":
    main()
