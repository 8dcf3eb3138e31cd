"""The network between a test server and its Postgres,
as a TCP forwarder the fault tests can cut or silence.

Nothing of subsvc is mocked: the service connects to this port as it would to its database.
"""
from __future__ import annotations

import socket
import threading
from contextlib import suppress

import sqlalchemy as sa

from tests.server import free_port


class TcpProxy:
    """The network between the service and its database, as a TCP forwarder on a port of its own.

    start() forwards; stop() cuts live connections and refuses new ones (the database is
    gone); stall() accepts connections that never get an answer (the host is there, silent).
    """

    def __init__(self, target: tuple[str, int]) -> None:
        self.target, self.port = target, free_port()
        self._lock = threading.Lock()
        self._sockets: set[socket.socket] = set()
        self._stopping = threading.Event()
        self._acceptor: threading.Thread | None = None
        self._hole: socket.socket | None = None

    def start(self) -> None:
        self.stop()
        listener = socket.create_server(("127.0.0.1", self.port))
        listener.settimeout(0.1)  # lets the accept loop notice stop() quickly
        self._stopping.clear()
        self._acceptor = threading.Thread(target=self._accept, args=(listener,), daemon=True)
        self._acceptor.start()

    def stop(self) -> None:
        self._stopping.set()
        if self._acceptor is not None:
            self._acceptor.join(timeout=5)
        with self._lock:
            sockets, self._sockets = list(self._sockets), set()
        if self._hole is not None:
            sockets.append(self._hole)
            self._hole = None
        for sock in sockets:
            _close(sock)

    def stall(self) -> None:
        self.stop()
        # The kernel completes handshakes into the backlog; nobody ever reads or answers.
        self._hole = socket.create_server(("127.0.0.1", self.port), backlog=64)

    def _accept(self, listener: socket.socket) -> None:
        with listener:
            while not self._stopping.is_set():
                try:
                    client, _ = listener.accept()
                except TimeoutError:
                    continue
                try:
                    upstream = socket.create_connection(self.target, timeout=5)
                except OSError:
                    _close(client)
                    continue
                for sock in (client, upstream):
                    sock.settimeout(None)
                with self._lock:
                    self._sockets.update((client, upstream))
                for src, dst in ((client, upstream), (upstream, client)):
                    threading.Thread(target=_pump, args=(src, dst), daemon=True).start()


def proxied(url: str, port: int) -> str:
    """``url`` pointed at the proxy's local port instead of the database host."""
    return sa.engine.make_url(url).set(host="127.0.0.1", port=port).render_as_string(
        hide_password=False)


def _pump(src: socket.socket, dst: socket.socket) -> None:
    with suppress(OSError):
        while data := src.recv(65536):
            dst.sendall(data)
    _close(src)
    _close(dst)


def _close(sock: socket.socket) -> None:
    with suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    with suppress(OSError):
        sock.close()
