"""`autoprune dashboard RUN`: optuna-dashboard for a search, bound to 127.0.0.1 by default."""
from __future__ import annotations

import argparse

from autoprune.commands._common import positive_int


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("run", help="a search run directory (runs/<study>)")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: this machine only)")
    p.add_argument("--port", type=positive_int, default=8080)


def run(args: argparse.Namespace) -> int:
    from autoprune.search.dashboard import serve

    serve(args.run, host=args.host, port=args.port)
    return 0
