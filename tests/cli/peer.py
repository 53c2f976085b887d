#!/usr/bin/env python3
"""Peers that misbehave for covirt's timeout tests, on a free port of 127.0.0.1 (printed first).
  silent         accepts and never answers (nor closes)
  sse-slow N     answers an event stream's head, is quiet N seconds, sends one event, ends
  tls CERT KEY   a TLS server (a manager with MANAGER_HTTP_SERVER_CERT) that answers nothing
"""
import socket
import ssl
import sys
import threading
import time


def serve(handler):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", 0))
    s.listen(16)
    print(s.getsockname()[1], flush=True)
    while True:
        c, _ = s.accept()
        threading.Thread(target=handler, args=(c,), daemon=True).start()


def silent(c):
    while c.recv(4096):
        pass


def sse_slow(quiet):
    def handler(c):
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = c.recv(4096)
            if not chunk:
                return
            head += chunk
        c.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nConnection: close\r\n\r\n")
        time.sleep(quiet)
        c.sendall(b"event: lifecycle\ndata: {\"seq\":1,\"kind\":\"lifecycle\",\"event\":\"started\"}\n\n")
        c.close()
    return handler


def tls(cert, key):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)

    def handler(c):
        try:
            with ctx.wrap_socket(c, server_side=True) as t:
                while t.recv(4096):
                    pass
        except (ssl.SSLError, OSError):
            c.close()
    return handler


def main():
    mode = sys.argv[1]
    if mode == "silent":
        serve(silent)
    elif mode == "sse-slow":
        serve(sse_slow(float(sys.argv[2])))
    elif mode == "tls":
        serve(tls(sys.argv[2], sys.argv[3]))
    else:
        sys.exit(f"unknown mode {mode}")


if __name__ == "__main__":
    main()
