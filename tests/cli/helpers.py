"""Run the real ``klaviyo-analytics`` console script in a subprocess, as a user would."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

EXECUTABLE = Path(sys.executable).with_name("klaviyo-analytics")


def run_cli(
    args: Sequence[str],
    *,
    data_dir: Path | None = None,
    env: Mapping[str, str] | None = None,
    timeout: float = 120,
) -> subprocess.CompletedProcess[str]:
    """Run the CLI with a clean ``KLAVIYO_ANALYTICS_*`` environment plus ``env``."""
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("KLAVIYO_ANALYTICS_")}
    full_env["COLUMNS"] = "200"
    if env:
        full_env.update(env)
    prefix = ["--data-dir", str(data_dir)] if data_dir is not None else []
    return subprocess.run(
        [str(EXECUTABLE), *prefix, *args],
        capture_output=True,
        text=True,
        env=full_env,
        timeout=timeout,
        check=False,
    )


def one_error_line(result: subprocess.CompletedProcess[str]) -> str:
    """The single stderr line of a failed command (asserts there is exactly one, no traceback)."""
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    assert lines[0].startswith("error: ")
    return lines[0]
