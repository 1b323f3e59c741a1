"""A loopback TCP proxy in front of a real server, making the network faults a client must survive.

Faults a real server never makes on its own, produced on the wire instead of with a fake server:

- `refuse()` / `accept()`: stop listening (connections are refused, open ones cut), as a server
  that is down or restarting; then listen again on the same port, as the server coming back.
- `drop_responses = N`: the next N requests reach the server and are handled, but each answer is
  swallowed and the client's connection reset, as an answer lost on the way back.
- `delay_s`: every answer is held this long before it is passed on, as a slow network or server
  (a client with a shorter timeout gives up although the server did the work).

It knows nothing of HTTP beyond this: a request starts when the client sends after the last
answer began, an answer starts with the server's first bytes after a request. That is enough for
one request at a time per connection, which is how HTTP/1.1 clients use a connection.
"""

from __future__ import annotations

import contextlib
import select
import socket
import struct
import threading
import time

from tests.support.servers import free_port


class FaultProxy:
    """Forwards 127.0.0.1:`port` to 127.0.0.1:`upstream_port`, one thread per connection."""

    def __init__(self, upstream_port: int, port: int | None = None) -> None:
        self.upstream_port = upstream_port
        self.port = port or free_port()
        self.drop_responses = 0
        self.delay_s = 0.0
        self.answers = 0  # answers the server began (dropped ones included): requests it handled
        self.dropped = 0
        self._sent = bytearray()  # every byte a client sent through the proxy
        self._lock = threading.Lock()
        self._listener: socket.socket | None = None
        self._acceptor: threading.Thread | None = None
        self._open: set[socket.socket] = set()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def sent(self) -> bytes:
        """What went over the wire to the server, for checking what a client disclosed."""
        with self._lock:
            return bytes(self._sent)

    def accept(self) -> None:
        """Listen (again) on the proxy's port; starts the proxy."""
        if self._listener is not None:
            return
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        listener.settimeout(0.05)
        self._listener = listener
        self._acceptor = threading.Thread(target=self._accept_loop, args=(listener,), daemon=True)
        self._acceptor.start()

    def refuse(self) -> None:
        """Stop listening and cut every open connection: new connections are refused (ECONNREFUSED)."""
        listener, self._listener = self._listener, None
        if listener is not None:  # closed only once its accept() has returned, so no late connection gets in
            with contextlib.suppress(OSError):
                listener.shutdown(socket.SHUT_RDWR)
            if self._acceptor is not None:
                self._acceptor.join(5)
            listener.close()
        with self._lock:
            open_now, self._open = self._open, set()
        for sock in open_now:  # wakes the connection's thread, which closes both sides
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def _accept_loop(self, listener: socket.socket) -> None:
        while self._listener is listener:
            try:
                client, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:  # closed by refuse()
                return
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        try:
            upstream = socket.create_connection(("127.0.0.1", self.upstream_port), timeout=5)
        except OSError:  # the server behind is down too: the client sees its connection reset
            _reset(client)
            return
        with self._lock:
            self._open.update((client, upstream))
        client.setblocking(True)
        drop = False
        try:
            self._pump(client, upstream)
        except _Drop:
            drop = True
        except OSError:  # either side went away, or refuse() cut the connection
            pass
        finally:
            with self._lock:
                self._open.difference_update((client, upstream))
            if drop:
                _reset(client)
            else:
                client.close()
            upstream.close()

    def _pump(self, client: socket.socket, upstream: socket.socket) -> None:
        """Copy bytes both ways until either side closes; faults are applied where an answer begins."""
        awaiting = False  # a request went up and its answer has not begun yet
        while True:
            readable, _, _ = select.select([client, upstream], [], [], 0.5)
            if client in readable:
                data = client.recv(65536)
                if not data:
                    return
                with self._lock:
                    self._sent += data
                upstream.sendall(data)
                awaiting = True
            if upstream in readable:
                data = upstream.recv(65536)
                if not data:
                    return
                if awaiting:
                    awaiting = False
                    with self._lock:
                        self.answers += 1
                        drop = self.drop_responses > 0
                        if drop:
                            self.drop_responses -= 1
                            self.dropped += 1
                    if drop:
                        raise _Drop  # the server handled the request; the client never hears
                    if self.delay_s:
                        time.sleep(self.delay_s)
                client.sendall(data)


class _Drop(Exception):
    """Raised inside a connection's pump to end it with a reset instead of the answer."""


def _reset(sock: socket.socket) -> None:
    """Close with RST rather than FIN: the peer sees the connection broken, not a clean end."""
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()
