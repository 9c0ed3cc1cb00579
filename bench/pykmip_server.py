#!/usr/bin/python3
"""Runs PyKMIP's KMIP server for the OpenKCM benchmarks (bench/server.ts, bench/crypto.ts).

    /usr/bin/python3 bench/pykmip_server.py CONFIG_FILE LOG_FILE

CONFIG_FILE is bench/pykmip-server.conf with its placeholders filled in. The server is
PyKMIP's own kmip.services.server.KmipServer, unchanged, with one launcher-side
adjustment: KmipServer.start() sets a 10 s default socket timeout, so a SIGTERM is only
noticed at the next accept timeout (CLIENTS.md). The launcher shortens the timeout of the
listening socket alone to 0.5 s so that a stop takes about a second; connection sockets
keep PyKMIP's 10 s. The launcher also stops the server when its standard input reaches
end of file, so a benchmark that dies without stopping it does not leave it running.
Prints "READY <port>" on stdout once the socket is bound, and
"STOPPED" after a clean stop.

Debian's python3-pykmip imports only under /usr/bin/python3.
"""
import os
import signal
import sys
import threading

from kmip.core import exceptions
from kmip.services.server import KmipServer

LISTEN_ACCEPT_TIMEOUT = 0.5


def stop_when_parent_goes():
    """Our stdin is a pipe from the benchmark: EOF means it exited; stop like on SIGTERM."""
    try:
        while sys.stdin.buffer.read(4096):
            pass
    except Exception:
        pass
    os.kill(os.getpid(), signal.SIGTERM)


def main():
    if len(sys.argv) != 3:
        sys.stderr.write("usage: pykmip_server.py CONFIG_FILE LOG_FILE\n")
        return 2
    server = KmipServer(config_path=sys.argv[1], log_path=sys.argv[2])
    server.start()
    try:
        server._socket.settimeout(LISTEN_ACCEPT_TIMEOUT)
        port = server._socket.getsockname()[1]
        sys.stdout.write("READY {0}\n".format(port))
        sys.stdout.flush()
        threading.Thread(target=stop_when_parent_goes, daemon=True).start()
        # serve() installs its own SIGTERM handler and returns once it has run.
        server.serve()
    finally:
        try:
            server.stop()
        except exceptions.NetworkingError:
            # KmipServer.stop() calls shutdown() on its *listening* socket, which Linux
            # refuses with ENOTCONN, and then skips the rest of its clean-up: finish it.
            server._socket.close()
            if hasattr(server, "policy_monitor"):
                server.policy_monitor.stop()
                server.policy_monitor.join()
    sys.stdout.write("STOPPED\n")
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
