"""``cnmri serve --results DIR``: the local web app (CONTRACTS.md §7, docs/viewer.md)."""

from __future__ import annotations

import argparse
import ipaddress
import os
import socket
import sys
from pathlib import Path
from typing import Any

from cnmri.errors import InputError

TOKEN_ENV = "CNMRI_TOKEN"


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "serve",
        help="local web app: study list, viewer with the nerve overlays, clinical form, follow-up",
        description="Serve the analysis folders inside DIR (each folder written by 'cnmri analyze -o' is a "
        "study; DIR may also be one analysis folder) as a web app on this machine. Prints the URL with the "
        "access token once; every page but /health needs it. Nothing is loaded from outside the machine.",
    )
    parser.add_argument("--results", type=Path, required=True, metavar="DIR", help="folder of analysis folders")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: this machine only)")
    parser.add_argument("--port", type=int, default=8765, help="port (default 8765; 0 picks a free one)")
    parser.add_argument(
        "--token",
        default=None,
        help=f"access token (default: ${TOKEN_ENV}, else a random one); at least 16 characters",
    )
    parser.set_defaults(func=run)


def resolve_token(option: str | None) -> tuple[str, bool]:
    """The access token and whether it was generated here (and so must be shown to the user)."""
    from cnmri.web.security import new_token

    token = option or os.environ.get(TOKEN_ENV) or None
    if token is None:
        return new_token(), True
    if len(token) < 16:
        source = "--token" if option else f"${TOKEN_ENV}"
        raise InputError(f"{source}: the access token must be at least 16 characters long")
    return token, False


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def run(args: argparse.Namespace) -> int:
    try:
        import uvicorn

        from cnmri.web.app import create_app
    except ModuleNotFoundError as error:
        raise InputError(
            f"cnmri serve needs {error.name}; install the web dependencies: pip install 'cnmri[web]'"
        ) from None
    if not 0 <= args.port <= 65535:
        raise InputError(f"--port {args.port}: choose a port between 0 and 65535")
    token, generated = resolve_token(args.token)
    app = create_app(args.results, token)
    if not _is_loopback(args.host):
        print(
            f"cnmri serve: warning: --host {args.host} makes the app reachable from other machines, "
            "over plain HTTP; the token is the only protection",
            file=sys.stderr,
        )
    sock = _bind(args.host, args.port)
    port = sock.getsockname()[1]
    shown_host = f"[{args.host}]" if ":" in args.host else args.host
    # Printed once, on stdout (what was asked for); a user-chosen token is not echoed.
    shown = token if generated else "<your token>"
    print(f"http://{shown_host}:{port}/?token={shown}", flush=True)
    print(f"cnmri serve: {len(app.state.index.refs())} studies in {args.results}; Ctrl-C stops", file=sys.stderr)
    config = uvicorn.Config(app, log_level="warning", access_log=False)
    uvicorn.Server(config).run(sockets=[sock])
    return 0


def _bind(host: str, port: int) -> socket.socket:
    """Bind before starting the server, so that the printed URL has the real port (also for --port 0)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as error:
        sock.close()
        raise InputError(
            f"--host {host} --port {port}: cannot listen there ({error.strerror}); choose another port"
        ) from None
    sock.listen(128)
    return sock
