"""`python -m emulator [--host 127.0.0.1] [--port 8100]`: run the provider emulator in the foreground."""
from __future__ import annotations

import argparse
import logging
import os
import signal
import sys

from . import build_app
from .server import make_server


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m emulator", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=int(os.environ.get("EMULATOR_PORT") or 8100))
    args = parser.parse_args(argv)
    logging.basicConfig(stream=sys.stderr, level=logging.INFO,
                        format="%(asctime)s %(name)s %(levelname)s %(message)s")

    server = make_server(args.host, args.port)  # bind first: --port 0 picks a free port
    port = server.server_address[1]
    public_url = os.environ.get("EMULATOR_PUBLIC_URL") or f"http://127.0.0.1:{port}"
    server.app = build_app(public_url=public_url)

    def stop(signum, frame):  # SIGTERM from a test harness or `make`: exit cleanly, not with a traceback
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    logging.getLogger("emulator").info("emulator listening on http://%s:%s (public URL %s)",
                                       args.host, port, public_url)
    try:
        server.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass
    finally:
        server.app.clock.stop()
        server.app.webhooks.stop()
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
