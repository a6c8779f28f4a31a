"""`labcloud serve`: the API in the foreground, on a threaded WSGI server (cheroot).

The lab's journals are settled once here, at start, before the first request; each
request then works on a lab that recovers nothing (labcloud/api/app.py).
"""

from __future__ import annotations

import faulthandler
import logging
import signal
import socket
import sys
from types import FrameType

from cheroot import wsgi

from labcloud.api.app import ApiApp
from labcloud.config import LabConfig
from labcloud.errors import BackendError
from labcloud.lab import Lab


def check(config: LabConfig, timeout: float = 2.0) -> bool:
    """Whether something answers on the API's address."""
    family = socket.AF_INET6 if ":" in config.api.bind else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        return sock.connect_ex((config.api.bind, config.api.port)) == 0


def _exit(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(0)


def serve(lab: Lab, threads: int = 16) -> None:
    """Settle the journals, then serve until SIGTERM or SIGINT."""
    logging.basicConfig(level=logging.INFO, format="labcloud serve: %(message)s")
    config = lab.config
    lab.recover_all()
    app = ApiApp(config)
    server = wsgi.Server((config.api.bind, config.api.port), app, numthreads=threads)

    try:
        server.prepare()
    except OSError as exc:
        raise BackendError(f"cannot listen on {config.api.url}: {exc.strerror or exc}") from None
    # SIGTERM ends it as Ctrl-C does; the workers are stopped on the way out.
    signal.signal(signal.SIGTERM, _exit)
    # `kill -USR1 PID` prints every thread's stack to the log: a stuck request shows where.
    faulthandler.register(signal.SIGUSR1, all_threads=True)
    print(f"labcloud serve: OpenStack API on {config.api.auth_url}", file=sys.stderr, flush=True)
    try:
        server.serve()
    except (KeyboardInterrupt, SystemExit):
        pass
    finally:
        server.stop()
