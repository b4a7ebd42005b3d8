"""Container entry point of the streaming rating job: `telecom stream` with the container's arguments.

Settings come from `TELECOM_*` variables (docker-compose.yml) and flags, as in local mode.
"""

from __future__ import annotations

import sys

from telecom_billing import cli

COMMAND = ("stream",)


def main(argv: list[str] | None = None) -> int:
    return cli.main([*COMMAND, *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    raise SystemExit(main())
