"""``python -m webhooks.port_check HOST PORT``: whether the site can listen there, said in one
line before `make run` announces it. gunicorn would otherwise retry for five seconds and print
its own errors after a "Serving…" line that was not true."""

import errno
import socket
import sys

from webhooks.numbers import plain_digits


def listen_problem(host: str, port: int) -> str | None:
    """Why the site could not listen on ``host``:``port``, or None when it can (bound as
    gunicorn binds, with SO_REUSEADDR, then released)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror:
        return f"HOST={host} is not an address this machine has; try HOST=127.0.0.1"
    family, kind, protocol, _name, address = infos[0]
    with socket.socket(family, kind, protocol) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(address)
        except OSError as error:
            if error.errno == errno.EADDRINUSE:
                return (
                    f"Port {port} on {host} is already in use by another program: stop it, "
                    f"or choose another port, e.g. PORT={port + 1} make run"
                )
            if error.errno == errno.EACCES:
                return f"Port {port} needs more privileges to listen on; choose PORT=5000 or above"
            return (
                f"Cannot listen on {host}:{port} ({error.strerror}); choose another HOST= or PORT="
            )
    return None


def main(argv: list[str]) -> int:
    host, raw_port = argv
    if not plain_digits(raw_port) or not 0 < int(raw_port) < 65536:
        print(f"PORT={raw_port} is not a port number; choose one from 1 to 65535", file=sys.stderr)
        return 1
    problem = listen_problem(host, int(raw_port))
    if problem is not None:
        print(problem, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
