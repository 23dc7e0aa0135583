"""What Klaviyo's OpenAPI spec (revision 2026-07-15, bundled) states per operation.

Rate limits (``x-klaviyo-ratelimit``), scopes (``x-klaviyo-scopes``), filters
(``x-klaviyo-filters``), page-size bounds and the enums of ``sort``/``include``/``fields[...]`` are
read from the spec file here, not restated by hand.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from typing import Any

import orjson

from klaviyo_analytics.simulator.errors import SimulatorError

#: Operations the simulator serves, by (method, path template).
SERVED: list[tuple[str, str]] = [
    ("GET", "/api/accounts"),
    ("GET", "/api/metrics"),
    ("GET", "/api/metrics/{id}"),
    ("GET", "/api/events"),
    ("GET", "/api/campaigns"),
    ("GET", "/api/campaigns/{id}"),
    ("GET", "/api/campaigns/{id}/campaign-messages"),
    ("GET", "/api/campaigns/{id}/tags"),
    ("GET", "/api/flows"),
    ("GET", "/api/flows/{id}"),
    ("GET", "/api/flows/{id}/flow-actions"),
    ("GET", "/api/flow-actions/{id}/flow-messages"),
    ("GET", "/api/forms"),
    ("GET", "/api/segments"),
    ("POST", "/api/campaign-values-reports"),
    ("POST", "/api/flow-values-reports"),
    ("POST", "/api/flow-series-reports"),
    ("POST", "/api/form-values-reports"),
    ("POST", "/api/form-series-reports"),
    ("POST", "/api/segment-values-reports"),
    ("POST", "/api/segment-series-reports"),
]


@dataclass(frozen=True)
class Limit:
    """One rate-limit window: ``count`` requests per ``seconds``."""

    count: int
    seconds: int


@dataclass(frozen=True)
class Operation:
    """The facts the simulator enforces for one operation.

    Attributes:
        method: HTTP method.
        path: path template.
        operation_id: the spec's operationId.
        scopes: OAuth scopes required.
        burst: burst window limit.
        steady: steady window limit.
        daily: daily limit, if any.
        filters: the ``x-klaviyo-filters`` object (empty if the operation takes none).
        filter_required: whether ``filter`` is required.
        page_size: (default, maximum) of ``page[size]``, or ``None`` when not accepted.
        enums: allowed values of array/enum query parameters (``sort``, ``include``,
            ``fields[...]``, ``additional-fields[...]``).
        params: names of all query parameters.
    """

    method: str
    path: str
    operation_id: str
    scopes: tuple[str, ...]
    burst: Limit | None
    steady: Limit | None
    daily: Limit | None
    filters: dict[str, Any] = field(default_factory=dict)
    filter_required: bool = False
    page_size: tuple[int, int] | None = None
    enums: dict[str, frozenset[str]] = field(default_factory=dict)
    params: frozenset[str] = frozenset()

    @property
    def pattern(self) -> re.Pattern[str]:
        """Regex matching concrete paths (with or without a trailing slash)."""
        return _pattern(self.path)


@lru_cache(maxsize=64)
def _pattern(path: str) -> re.Pattern[str]:
    return re.compile("^" + re.sub(r"\{[^}]+\}", "([^/]+)", path) + "/?$")


def _limit(text: str | None) -> Limit | None:
    if not text:
        return None
    count, _, unit = text.partition("/")
    seconds = {"s": 1, "m": 60, "d": 86_400}[unit.strip()]
    return Limit(int(count), seconds)


@lru_cache(maxsize=1)
def spec_document() -> dict[str, Any]:
    """The bundled OpenAPI document (parsed once per process).

    Raises:
        SimulatorError: the bundled file is missing or unreadable.
    """
    try:
        raw = resources.files("klaviyo_analytics.simulator").joinpath("openapi/stable.json")
        doc: dict[str, Any] = orjson.loads(raw.read_bytes())
    except (OSError, orjson.JSONDecodeError) as exc:
        raise SimulatorError(f"cannot read the bundled OpenAPI spec: {exc}") from exc
    return doc


@lru_cache(maxsize=1)
def operations() -> dict[tuple[str, str], Operation]:
    """The served operations, keyed by (method, path template), as the spec states them."""
    doc = spec_document()
    out: dict[tuple[str, str], Operation] = {}
    for method, path in SERVED:
        op = doc["paths"][path][method.lower()]
        rl = op.get("x-klaviyo-ratelimit", {})
        enums: dict[str, frozenset[str]] = {}
        page_size = None
        params = set()
        filter_required = False
        for prm in op.get("parameters", []):
            if prm.get("in") != "query":
                continue
            name = prm["name"]
            params.add(name)
            schema = prm.get("schema", {})
            if name == "page[size]":
                page_size = (int(schema.get("default", 1)), int(schema.get("maximum", 1)))
            elif name == "filter":
                filter_required = bool(prm.get("required"))
            items = schema.get("items", schema)
            if "enum" in items:
                enums[name] = frozenset(str(v) for v in items["enum"])
        out[(method, path)] = Operation(
            method=method,
            path=path,
            operation_id=op["operationId"],
            scopes=tuple(op.get("x-klaviyo-scopes", [])),
            burst=_limit(rl.get("burst")),
            steady=_limit(rl.get("steady")),
            daily=_limit(rl.get("daily")),
            filters=op.get("x-klaviyo-filters", {}),
            filter_required=filter_required,
            page_size=page_size,
            enums=enums,
            params=frozenset(params),
        )
    return out


def match(method: str, path: str) -> tuple[Operation, list[str]] | None:
    """The served operation matching a request, with its path parameters."""
    for (m, _), op in operations().items():
        if m != method:
            continue
        found = op.pattern.match(path)
        if found:
            return op, list(found.groups())
    return None


def all_scopes() -> tuple[str, ...]:
    """Every scope any served operation needs (what a private key and a default grant carry)."""
    scopes = sorted({s for op in operations().values() for s in op.scopes})
    return tuple(scopes)
