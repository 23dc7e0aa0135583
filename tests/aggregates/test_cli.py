"""``klaviyo-analytics aggregate``: bad input is one clear stderr line and exit code 2."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.cli.helpers import one_error_line, run_cli


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--store", "s1", "--only", "customers,bogus"], "unknown aggregate job 'bogus'"),
        (["--store", "s1", "--as-of", "2024-02-30"], "--as-of: '2024-02-30' is not a date"),
        (["--store", "s1", "--all"], "exactly one of --store ID or --all"),
        (["--store", "s1", "--timezone", "Mars/Base"], "unknown timezone 'Mars/Base'"),
    ],
)
def test_bad_input_is_one_line_exit_2(tmp_path: Path, args: list[str], fragment: str) -> None:
    result = run_cli(["aggregate", *args], data_dir=tmp_path)
    assert result.returncode == 2
    assert fragment in one_error_line(result)
