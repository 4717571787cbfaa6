"""A minimal RESP2 client over loopback TCP: enough for the benchmark's
polling (LLEN, DBSIZE, ZRANGE, EXISTS, ...) without extra packages."""
import socket


class RespError(Exception):
    """An error reply from Redis."""


class Resp:
    def __init__(self, port, db=0, host="127.0.0.1", timeout=10.0):
        self.sock = socket.create_connection((host, port), timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.rfile = self.sock.makefile("rb")
        if db:
            self.call("SELECT", db)

    def close(self):
        self.rfile.close()
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    @staticmethod
    def _encode(args):
        out = [b"*%d\r\n" % len(args)]
        for a in args:
            if not isinstance(a, bytes):
                a = str(a).encode()
            out.append(b"$%d\r\n%s\r\n" % (len(a), a))
        return b"".join(out)

    def _read(self):
        line = self.rfile.readline()
        if not line:
            raise ConnectionError("redis closed the connection")
        kind, rest = line[:1], line[1:-2]
        if kind == b"+":
            return rest.decode()
        if kind == b"-":
            return RespError(rest.decode())
        if kind == b":":
            return int(rest)
        if kind == b"$":
            n = int(rest)
            if n < 0:
                return None
            data = self.rfile.read(n + 2)
            return data[:-2]
        if kind == b"*":
            n = int(rest)
            if n < 0:
                return None
            return [self._read() for _ in range(n)]
        raise ConnectionError("bad RESP reply: %r" % line)

    def pipe(self, *cmds):
        """Sends every command in one write, returns their replies in order
        (error replies are returned as RespError objects, not raised)."""
        self.sock.sendall(b"".join(self._encode(c) for c in cmds))
        return [self._read() for _ in cmds]

    def call(self, *args):
        reply = self.pipe(args)[0]
        if isinstance(reply, RespError):
            raise reply
        return reply
