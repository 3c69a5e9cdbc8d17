"""Run one of the project's modules on the test suite's clock: `python -m tests.clocked hub serve`.

The fault and deployment tests start the hub and the push receiver as processes of their own; this
gives them the same moved clock as the suite (tests/clock.py), so that tokens, leases and
timestamps agree across processes whatever date the suite runs on.
"""

from __future__ import annotations

import runpy
import sys

from tests.clock import follow_parent_clock


def main() -> None:
    if len(sys.argv) < 2:
        raise SystemExit("usage: python -m tests.clocked MODULE [ARGS...]")
    module = sys.argv[1]
    sys.argv = [module, *sys.argv[2:]]
    follow_parent_clock()
    runpy.run_module(module, run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
