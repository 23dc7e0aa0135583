"""Configuration of a simulator run: store size, accounts, rate-limit profile and fault knobs.

Nothing here touches the network or generates data; it only parses and validates what the CLI or a
test asks for, so a bad value fails before a server starts.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Literal

from klaviyo_analytics.errors import UsageError

#: Klaviyo API revision the simulator serves (the revision of the bundled OpenAPI spec).
REVISION = "2026-07-15"

#: Named store sizes, in orders over the two-year history.
SCALES: dict[str, int] = {
    "tiny": 300,
    "small": 20_000,
    "medium": 100_000,
    "large": 1_000_000,
}

RateLimitProfile = Literal["realistic", "off"]


def parse_scale(scale: str | int) -> int:
    """Turn a scale name or an order count into a number of orders.

    Args:
        scale: ``tiny``, ``small``, ``medium``, ``large`` or a positive integer (also as a string).

    Returns:
        The approximate number of orders in the two-year history.

    Raises:
        UsageError: the value is neither a known name nor a positive integer.
    """
    if isinstance(scale, int):
        orders = scale
    elif scale in SCALES:
        return SCALES[scale]
    else:
        try:
            orders = int(scale.replace("_", ""))
        except ValueError:
            names = ", ".join(SCALES)
            raise UsageError(
                f"unknown scale {scale!r}: use one of {names} or a number of orders"
            ) from None
    if orders < 1 or orders > 50_000_000:
        raise UsageError(f"scale must be between 1 and 50000000 orders, got {orders}")
    return orders


_FAULT_KEYS = {
    "429": "rate_429",
    "500": "error_500",
    "502": "error_502",
    "503": "error_503",
    "5xx": "error_5xx",
    "timeout": "timeout",
    "slow": "slow",
    "malformed": "malformed",
    "duplicates": "duplicates",
    "late": "late",
    "expire": "token_expiry",
    "token_expiry": "token_expiry",
    "revoke": "revoke",
}
_FAULT_NUMBERS = {
    "timeout_s": "timeout_seconds",
    "slow_s": "slow_seconds",
    "late_h": "late_delay_hours",
    "seed": "seed",
}


@dataclass(frozen=True)
class FaultSpec:
    """Which faults to inject and how often; all shares are probabilities in [0, 1].

    Decisions are deterministic given ``seed``: the n-th time the same request (method, path and
    query) arrives, the same faults are drawn, so a failing test replays exactly and a client that
    retries eventually gets through.

    Attributes:
        rate_429: share of ``/api`` requests answered 429 with ``Retry-After`` (besides the real
            rate limits).
        error_500: share answered 500.
        error_502: share answered 502.
        error_503: share answered 503.
        error_5xx: share answered with one of 500/502/503 (picked evenly).
        timeout: share that sleep ``timeout_seconds`` before answering (a client with a shorter
            timeout gives up).
        slow: share that sleep ``slow_seconds`` before answering normally.
        malformed: share answered 200 with a truncated, unparseable JSON body.
        duplicates: share of event pages that start with the last events of the previous page
            again (the same event ids served twice across pages).
        late: share of events that arrive late: their datetime is in the past but they become
            visible only ``late_delay_hours`` later on the simulator clock.
        token_expiry: share of OAuth-authenticated requests whose access token expires right then
            (401 from then on, before its nominal lifetime).
        revoke: share of refresh-token grants that find the refresh token revoked
            (``invalid_grant``).
        timeout_seconds: how long a ``timeout`` fault sleeps.
        slow_seconds: how long a ``slow`` fault sleeps.
        late_delay_hours: how long (simulated hours) a late event stays invisible.
        seed: seed of the fault draws.
    """

    rate_429: float = 0.0
    error_500: float = 0.0
    error_502: float = 0.0
    error_503: float = 0.0
    error_5xx: float = 0.0
    timeout: float = 0.0
    slow: float = 0.0
    malformed: float = 0.0
    duplicates: float = 0.0
    late: float = 0.0
    token_expiry: float = 0.0
    revoke: float = 0.0
    timeout_seconds: float = 30.0
    slow_seconds: float = 0.5
    late_delay_hours: float = 48.0
    seed: int = 0

    def __post_init__(self) -> None:
        for key in _FAULT_KEYS.values():
            value = getattr(self, key)
            if not 0.0 <= value <= 1.0 or math.isnan(value):
                raise UsageError(f"fault share {key}={value} must be between 0 and 1")
        for key in ("timeout_seconds", "slow_seconds", "late_delay_hours"):
            if getattr(self, key) < 0:
                raise UsageError(f"fault setting {key} must not be negative")

    @classmethod
    def parse(cls, spec: str | None) -> FaultSpec:
        """Parse a CLI fault string such as ``"429=0.1,5xx=0.05,timeout=0.01,seed=7"``.

        Keys: ``429``, ``500``, ``502``, ``503``, ``5xx``, ``timeout``, ``slow``, ``malformed``,
        ``duplicates``, ``late``, ``expire`` (access token expiry), ``revoke`` (refresh token
        revoked) take shares in [0, 1]; ``timeout_s``, ``slow_s``, ``late_h`` and ``seed`` take
        numbers.

        Args:
            spec: the comma-separated ``key=value`` list; empty or ``None`` means no faults.

        Returns:
            The parsed fault specification.

        Raises:
            UsageError: an unknown key, a missing ``=`` or a value that is not a number.
        """
        if not spec or not spec.strip():
            return cls()
        values: dict[str, float | int] = {}
        for raw in spec.split(","):
            item = raw.strip()
            if not item:
                continue
            key, sep, value = item.partition("=")
            key = key.strip().lower()
            if not sep:
                raise UsageError(f"fault {item!r} must look like key=value, e.g. 429=0.1")
            target = _FAULT_KEYS.get(key) or _FAULT_NUMBERS.get(key)
            if target is None:
                known = ", ".join([*_FAULT_KEYS, *_FAULT_NUMBERS])
                raise UsageError(f"unknown fault {key!r}; known: {known}")
            try:
                number = float(value)
            except ValueError:
                raise UsageError(f"fault {key}: {value!r} is not a number") from None
            values[target] = int(number) if target == "seed" else number
        return cls(**values)  # type: ignore[arg-type]  # keys checked against the fields above

    @property
    def any_http_fault(self) -> bool:
        """Whether any per-request HTTP fault (status, delay, body) is switched on."""
        return any(
            getattr(self, k) > 0
            for k in (
                "rate_429",
                "error_500",
                "error_502",
                "error_503",
                "error_5xx",
                "timeout",
                "slow",
                "malformed",
            )
        )


@dataclass(frozen=True)
class SimulatorConfig:
    """Everything that defines a simulator run.

    Attributes:
        seed: seed of the synthetic stores; the same seed, scale and ``now`` give the same data.
        scale: ``tiny`` (~300 orders), ``small`` (~20,000), ``medium`` (~100,000),
            ``large`` (1,000,000) or an order count.
        accounts: number of Klaviyo accounts served, each with its own store.
        rate_limits: ``realistic`` (the spec's per-operation limits) or ``off``.
        faults: fault injection knobs.
        time_scale: factor applied to rate-limit windows (0.01 turns a minute into 0.6 s).
        now: the simulator clock's starting time (end of the history); ``None`` means today at
            00:00 UTC.
        page_delay: seconds to sleep before every ``/api`` response (simulates latency).
        access_token_lifetime: OAuth access token lifetime in simulated seconds.
        host: interface to bind; only loopback addresses are accepted.
        port: TCP port; 0 picks a free one.
    """

    seed: int = 42
    scale: str | int = "tiny"
    accounts: int = 1
    rate_limits: RateLimitProfile = "off"
    faults: FaultSpec = field(default_factory=FaultSpec)
    time_scale: float = 1.0
    now: datetime | None = None
    page_delay: float = 0.0
    access_token_lifetime: int = 3600
    host: str = "127.0.0.1"
    port: int = 0

    def __post_init__(self) -> None:
        parse_scale(self.scale)
        if not 1 <= self.accounts <= 50:
            raise UsageError(f"accounts must be between 1 and 50, got {self.accounts}")
        if self.rate_limits not in ("realistic", "off"):
            raise UsageError(f"rate limits must be 'realistic' or 'off', got {self.rate_limits!r}")
        if not self.time_scale > 0:
            raise UsageError("time scale must be positive")
        if self.page_delay < 0:
            raise UsageError("page delay must not be negative")
        if self.access_token_lifetime < 1:
            raise UsageError("access token lifetime must be at least 1 second")
        if self.host not in ("127.0.0.1", "localhost", "::1"):
            raise UsageError(f"the simulator binds to loopback only, not {self.host!r}")
        if self.now is not None and self.now.tzinfo is None:
            raise UsageError("now must be timezone-aware (UTC)")

    @property
    def orders(self) -> int:
        """Approximate number of orders of each account's two-year history."""
        return parse_scale(self.scale)

    @property
    def start_now(self) -> datetime:
        """The clock's starting time, resolved (``now`` or today at 00:00 UTC)."""
        return resolve_now(self.now)

    def with_faults(self, faults: FaultSpec) -> SimulatorConfig:
        """A copy of this configuration with other faults."""
        return replace(self, faults=faults)


def resolve_now(now: datetime | None) -> datetime:
    """The store anchor: ``now`` in UTC, or today at 00:00 UTC when ``None``.

    Flooring to the day keeps a store (and its ground truth) the same across processes started the
    same day.
    """
    if now is None:
        return datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return now.astimezone(UTC)


HISTORY_DAYS = 730
"""Length of the generated history before the anchor, in days."""

FUTURE_DAYS = 120
"""Days generated after the anchor, revealed as the clock advances."""

ONE_DAY = timedelta(days=1)
