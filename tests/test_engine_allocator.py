"""The package sets the embedded engine's allocator before chDB can load, unless the operator
set it (README, Configuration)."""

from __future__ import annotations

import os
import subprocess
import sys

import klaviyo_analytics

_PRINT = "import os, klaviyo_analytics; print(os.environ['JE_MALLOC_CONF'])"


def _conf_seen_by_a_new_process(env: dict[str, str]) -> str:
    out = subprocess.run(
        [sys.executable, "-c", _PRINT], env=env, capture_output=True, text=True, check=True
    )
    return out.stdout.strip()


def test_default_allocator_conf_is_set_on_import() -> None:
    env = {k: v for k, v in os.environ.items() if k != "JE_MALLOC_CONF"}
    assert _conf_seen_by_a_new_process(env) == klaviyo_analytics.ENGINE_ALLOCATOR_CONF
    assert klaviyo_analytics.ENGINE_ALLOCATOR_CONF == "dirty_decay_ms:1000"


def test_operator_allocator_conf_wins() -> None:
    env = {**os.environ, "JE_MALLOC_CONF": "dirty_decay_ms:5000"}
    assert _conf_seen_by_a_new_process(env) == "dirty_decay_ms:5000"
