"""Run every benchmark script in this folder, one after the other (``make bench``).

Each script prints its own results table; copy them into ``bench/README.md``. Benchmarks are
not tests: they take minutes and their numbers depend on the machine.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
SCRIPTS = ["simulator_bench.py", "sync_bench.py", "sync_cost.py", "aggregates_bench.py"]


def main() -> int:
    """Run each script with this interpreter; return the first non-zero exit code."""
    for name in SCRIPTS:
        script = HERE / name
        if not script.exists():
            print(f"missing {name}", file=sys.stderr)
            return 1
        print(f"== {name}", flush=True)
        code = subprocess.call([sys.executable, str(script), *sys.argv[1:]])
        if code:
            return code
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
