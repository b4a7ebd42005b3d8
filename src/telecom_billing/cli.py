"""The `telecom` command: dispatches to one module per subcommand.

Each module in `telecom_billing.commands` defines `NAME`, `HELP`, `configure(parser)` and
`run(args) -> int`. Modules import their heavy dependencies (pyspark) inside `run`, so
`telecom --help` stays fast.
"""

from __future__ import annotations

import argparse
import importlib
import os
import pkgutil
import sys
from collections.abc import Sequence
from types import ModuleType

from . import __version__, commands
from .errors import TelecomError, UsageError


def _command_modules() -> list[ModuleType]:
    found = [importlib.import_module(f"{commands.__name__}.{m.name}")
             for m in pkgutil.iter_modules(commands.__path__) if not m.name.startswith("_")]
    return sorted(found, key=lambda m: m.NAME)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="telecom", description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module in _command_modules():
        p = sub.add_parser(module.NAME, help=module.HELP, description=module.HELP)
        module.configure(p)
        p.set_defaults(_run=module.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args._run(args) or 0)
    except UsageError as exc:
        print(f"telecom {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except TelecomError as exc:
        print(f"telecom {args.command}: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"telecom {args.command}: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # an unexpected failure still gets one line; TELECOM_DEBUG=1 shows the traceback
        if os.environ.get("TELECOM_DEBUG"):
            raise
        first = (str(exc).strip().splitlines() or [""])[0][:300]
        print(f"telecom {args.command}: error: {type(exc).__name__}: {first} (TELECOM_DEBUG=1 for details)",
              file=sys.stderr)
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
