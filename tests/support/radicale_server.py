"""Serve Radicale's CalDAV application on a listening socket handed down by the test.

Run as ``python radicale_server.py FD CONFIG``: FD is a socket the test bound on 127.0.0.1 and
listens on (inherited through ``pass_fds``), CONFIG Radicale's config file. Radicale itself
refuses port 0, and any port chosen in the test could be taken before Radicale binds it; an
inherited socket can be neither. The application is Radicale's own (``radicale.Application``,
configured as its server configures it); only the HTTP loop is the standard library's.
"""

import socket
import sys
from socketserver import ThreadingMixIn
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer

import radicale
from radicale import config


class _Server(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _Quiet(WSGIRequestHandler):
    def log_message(self, format, *args):
        return


def main(fd: int, path: str) -> None:
    configuration = config.load([(path, False)])
    configuration.update({"server": {"_internal_server": "True"}}, "server", privileged=True)
    server = _Server(("127.0.0.1", 0), _Quiet, bind_and_activate=False)
    server.socket.close()
    server.socket = socket.socket(fileno=fd)
    server.server_address = server.socket.getsockname()
    server.server_name, server.server_port = "127.0.0.1", server.server_address[1]
    server.setup_environ()
    server.set_app(radicale.Application(configuration))
    server.serve_forever()


if __name__ == "__main__":
    main(int(sys.argv[1]), sys.argv[2])
