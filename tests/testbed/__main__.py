"""Command line of the test bed, for molecule, demos and debugging.

    python -m testbed build                     # build the Go programs, print their folder
    python -m testbed start --dir DIR [--nodes 3]
    python -m testbed status --dir DIR
    python -m testbed stop --dir DIR

``start`` leaves the daemons running after it returns and writes DIR/cluster.json and
DIR/admin.kubeconfig; ``stop`` ends every daemon recorded in DIR/state.json.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from .binaries import bin_dir
from .cluster import TestCluster, default_nodes
from .procs import Supervisor, TestbedError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m testbed")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("build")
    for name in ("start", "status", "stop"):
        cmd = sub.add_parser(name)
        cmd.add_argument("--dir", required=True, type=Path, help="folder for the cluster's state")
        if name == "start":
            cmd.add_argument("--nodes", type=int, default=3)
    args = parser.parse_args(argv)
    try:
        if args.command == "build":
            print(bin_dir())
        elif args.command == "start":
            Supervisor.stop_recorded(args.dir / "state.json")
            cluster = TestCluster(args.dir, nodes=default_nodes(args.nodes))
            try:
                cluster.start()
            except BaseException:
                cluster.stop()
                raise
            print(json.dumps(cluster.describe(), indent=2))
        elif args.command == "status":
            info = json.loads((args.dir / "cluster.json").read_text())
            print(json.dumps(info, indent=2))
        elif args.command == "stop":
            stopped = Supervisor.stop_recorded(args.dir / "state.json")
            print("stopped: " + (", ".join(stopped) or "nothing was running"))
    except (TestbedError, FileNotFoundError) as err:
        print(f"testbed: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
