"""``python -m workbench.app [--port P] [--address A] [--no-show] [--runs FOLDER]``: serve the app."""

from __future__ import annotations

import argparse
import socket
import sys


def free_port(address: str = "127.0.0.1") -> int:
    """A port that is free on ``address`` now (the OS picks it)."""
    with socket.socket() as s:
        s.bind((address, 0))
        return s.getsockname()[1]


def parse_args(argv=None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="python -m workbench.app",
                                 description="Serve the NLHF Workbench app (panel) and print its URL.")
    ap.add_argument("--port", type=int, default=0, help="port to listen on (default: a free one)")
    ap.add_argument("--address", default="127.0.0.1",
                    help="address to listen on (default 127.0.0.1; 0.0.0.0 for every interface)")
    ap.add_argument("--no-show", action="store_true", help="do not open a browser")
    ap.add_argument("--runs", default=None, help="a folder of saved runs to list in 'Runs and rankings' "
                                                 "(default: reports/frames and runs/ when they exist)")
    args = ap.parse_args(argv)
    if not 0 <= args.port <= 65535:
        ap.error(f"--port must be in [0, 65535]; got {args.port}")
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    import panel as pn

    from workbench.app import build_app

    try:
        port = args.port or free_port(args.address)
    except OSError as exc:
        print(f"python -m workbench.app: cannot listen on {args.address}: {exc.strerror or exc}; "
              "pass --address 127.0.0.1 or another address of this machine", file=sys.stderr)
        return 2
    host = "localhost" if args.address in ("127.0.0.1", "0.0.0.0", "localhost") else args.address
    params = {"Runs and rankings": {"folder": args.runs}} if args.runs else {}
    origins = [f"{h}:{port}" for h in {host, "localhost", "127.0.0.1", args.address}]
    try:
        server = pn.serve({"/": lambda: build_app(**params)}, port=port, address=args.address, show=False,
                          start=False, websocket_origin=origins if args.address != "0.0.0.0" else "*",
                          title="NLHF Workbench")
    except OSError as exc:
        print(f"python -m workbench.app: port {port} on {args.address} is taken ({exc.strerror or exc}); "
              "choose another with --port, or leave it out for a free one", file=sys.stderr)
        return 2
    url = f"http://{host}:{port}/"
    print(f"NLHF Workbench app: {url}  (Ctrl+C stops it)", flush=True)
    if not args.no_show:
        server.io_loop.add_callback(server.show, "/")
    try:
        server.start()
        server.io_loop.start()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
