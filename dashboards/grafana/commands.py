"""``smartcomplex dashboards generate`` and ``smartcomplex dashboards check``: the committed JSON from the specs.

The specs and the foundation SDK are imported only when one of these runs, not on every ``smartcomplex`` command.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from dashboards import GENERATED_DIR


def cmd_generate(args: argparse.Namespace) -> int:
    from dashboards.grafana.catalogue import write_generated

    for path in write_generated(args.dir):
        print(f"wrote {path}")
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    from dashboards.grafana.catalogue import DASHBOARDS, stale_files

    stale = stale_files(args.dir)
    if stale:
        print(
            f"smartcomplex: dashboards out of date in {args.dir}: {', '.join(stale)}; "
            "run `smartcomplex dashboards generate` and commit the result",
            file=sys.stderr,
        )
        return 1
    print(f"{len(DASHBOARDS)} dashboards in {args.dir} match their specs")
    return 0


def add_generate_commands(dashboard_commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Registers ``generate`` and ``check`` under the ``dashboards`` command group."""
    generate = dashboard_commands.add_parser("generate", help="write the dashboards' JSON from their specs")
    generate.add_argument("--dir", type=Path, default=GENERATED_DIR, help="default: dashboards/generated/")
    generate.set_defaults(handler=cmd_generate)
    check = dashboard_commands.add_parser("check", help="fail when the committed JSON differs from the specs")
    check.add_argument("--dir", type=Path, default=GENERATED_DIR, help="default: dashboards/generated/")
    check.set_defaults(handler=cmd_check)
