"""The single ``cnmri`` entry point.

Each subcommand lives in ``cnmri.commands.<name>`` and exposes ``register(subparsers)``, which adds its
parser and sets ``func`` (a callable taking the parsed namespace and returning an exit code). Command
modules import heavy libraries inside ``func`` so that ``cnmri --help`` stays fast.

Exit codes (CONTRACTS.md §1): 0 success, 2 bad input, 3 processing failed. User-facing errors are
:class:`cnmri.errors.CnmriError`; they are printed as one line on stderr, never as a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence
from typing import Any

from cnmri import __version__
from cnmri.errors import CnmriError

#: Subcommands in the order ``--help`` lists them.
COMMANDS: tuple[str, ...] = (
    "analyze",
    "inspect",
    "convert",
    "atlas",
    "clinical",
    "compare",
    "demo",
    "phantom",
    "bench",
    "evaluate",
    "normative",
    "bids",
    "serve",
    "pacs",
    "watch",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cnmri",
        description="Cranial nerve infiltration on MRI: measure every nerve segment, side by side, "
        "and report thickening and enhancement. Decision support, not a diagnosis.",
    )
    parser.add_argument("--version", action="version", version=f"cnmri {__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more progress detail on stderr")
    parser.add_argument("-q", "--quiet", action="store_true", help="only errors on stderr")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        try:
            module = importlib.import_module(f"cnmri.commands.{name}")
        except ModuleNotFoundError as err:
            if err.name != f"cnmri.commands.{name}":
                raise
            continue  # an optional command whose module is not installed
        module.register(subparsers)
    return parser


class _CurrentStderr(logging.StreamHandler):
    """Writes to whatever ``sys.stderr`` is when a record is emitted, not the one at set-up, so that
    ``main()`` called from a host that swaps stderr (a test runner, an embedding app) never writes
    to a stream that was closed since."""

    @property
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, value: Any) -> None:
        pass


def _configure_logging(verbose: int, quiet: bool) -> None:
    level = logging.ERROR if quiet else (logging.DEBUG if verbose > 1 else logging.INFO)
    handler = _CurrentStderr()
    handler.setFormatter(logging.Formatter("cnmri: %(message)s"))
    logging.basicConfig(level=level, handlers=[handler], force=True)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help(sys.stderr)
        return 2
    _configure_logging(args.verbose, args.quiet)
    from cnmri.io.outputs import Terminated, cleanup_on_signals

    try:
        with cleanup_on_signals():
            return int(args.func(args))
    except CnmriError as error:
        print(f"cnmri {args.command}: error: {error}", file=sys.stderr)
        return error.exit_code
    except KeyboardInterrupt:
        print(f"cnmri {args.command}: cancelled", file=sys.stderr)
        return 130
    except Terminated as stop:
        print(f"cnmri {args.command}: stopped by signal {stop.signum}; partial output removed", file=sys.stderr)
        return 128 + stop.signum
    except MemoryError:
        print(f"cnmri {args.command}: error: out of memory; try a smaller image or free memory", file=sys.stderr)
        return 3


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
