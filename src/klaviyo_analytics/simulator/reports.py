"""The seven Reporting API endpoints: campaign, flow, form and segment values and series.

Timeframes are read in the account's timezone (a custom timeframe's offset is ignored, as on
Klaviyo), may span at most one year, and series intervals have Klaviyo's caps (hourly 7 days,
daily 60 days, weekly/monthly 52 weeks).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from klaviyo_analytics.simulator.errors import ApiError
from klaviyo_analytics.simulator.filters import Term, parse_filter
from klaviyo_analytics.simulator.marketing import CHANNEL_TO_REPORT, TAG_NAMES
from klaviyo_analytics.simulator.spec import spec_document
from klaviyo_analytics.simulator.stats import (
    SEGMENT_STATISTICS,
    MessageCounts,
    StatsEngine,
    form_statistics,
    message_statistics,
)
from klaviyo_analytics.simulator.store import Store

INTERVAL_CAPS = {"hourly": 7, "daily": 60, "weekly": 364, "monthly": 366}
REPORT_SCHEMAS = {
    "campaign-values-report": "CampaignValuesRequestDTO",
    "flow-values-report": "FlowValuesRequestDTO",
    "flow-series-report": "FlowSeriesRequestDTO",
    "form-values-report": "FormValuesRequestDTO",
    "form-series-report": "FormSeriesRequestDTO",
    "segment-values-report": "SegmentValuesRequestDTO",
    "segment-series-report": "SegmentSeriesRequestDTO",
}


@dataclass(frozen=True)
class ReportRequest:
    """A validated report request.

    Attributes:
        kind: ``campaign``, ``flow``, ``form`` or ``segment``.
        series: whether it is a series report.
        statistics: statistics asked for.
        start: timeframe start (account-local, aware).
        end: timeframe end (exclusive).
        interval: series interval.
        group_by: grouping attributes.
        filters: parsed filter terms.
    """

    kind: str
    series: bool
    statistics: list[str]
    start: datetime
    end: datetime
    interval: str | None
    group_by: list[str]
    filters: list[Term]


def _attr_schema(report_type: str) -> dict[str, Any]:
    schemas = spec_document()["components"]["schemas"]
    dto = schemas[REPORT_SCHEMAS[report_type]]
    obj = dto["properties"]["data"]
    if "$ref" in obj:
        obj = schemas[obj["$ref"].split("/")[-1]]
    attrs: dict[str, Any] = obj["properties"]["attributes"]
    if "$ref" in attrs:
        attrs = schemas[attrs["$ref"].split("/")[-1]]
    return attrs


def _timeframe(tf: Any, store: Store, now: datetime) -> tuple[datetime, datetime]:
    tz = store.tz
    local_now = now.astimezone(tz)
    today = local_now.replace(hour=0, minute=0, second=0, microsecond=0, tzinfo=None)

    def loc(d: datetime) -> datetime:
        return d.replace(tzinfo=tz)

    if not isinstance(tf, dict):
        raise ApiError.invalid("timeframe must be an object", pointer="/data/attributes/timeframe")
    if "key" in tf:
        key = tf["key"]
        month = today.replace(day=1)
        prev_month = (month - timedelta(days=1)).replace(day=1)
        week = today - timedelta(days=today.weekday())
        year = today.replace(month=1, day=1)
        table: dict[str, tuple[datetime, datetime]] = {
            "today": (today, today + timedelta(days=1)),
            "yesterday": (today - timedelta(days=1), today),
            "this_week": (week, today + timedelta(days=1)),
            "last_week": (week - timedelta(days=7), week),
            "this_month": (month, today + timedelta(days=1)),
            "last_month": (prev_month, month),
            "this_year": (year, today + timedelta(days=1)),
            "last_year": (year.replace(year=year.year - 1), year),
            "last_7_days": (today - timedelta(days=7), today),
            "last_30_days": (today - timedelta(days=30), today),
            "last_90_days": (today - timedelta(days=90), today),
            "last_365_days": (today - timedelta(days=365), today),
            "last_3_months": (_add_months(month, -3), month),
            "last_12_months": (_add_months(month, -12), month),
        }
        if key not in table:
            raise ApiError.invalid(
                f"'{key}' is not a valid timeframe key", pointer="/data/attributes/timeframe/key"
            )
        a, b = table[key]
        return loc(a), loc(b)
    try:
        start = datetime.fromisoformat(str(tf["start"]).replace("Z", "+00:00"))
        end = datetime.fromisoformat(str(tf["end"]).replace("Z", "+00:00"))
    except (KeyError, ValueError):
        raise ApiError.invalid(
            "timeframe needs a key or ISO start and end", pointer="/data/attributes/timeframe"
        ) from None
    # Klaviyo ignores the offset of a custom timeframe and applies the account timezone.
    start = start.replace(tzinfo=tz)
    end = end.replace(tzinfo=tz)
    if end <= start:
        raise ApiError.invalid(
            "timeframe end must be after start", pointer="/data/attributes/timeframe"
        )
    try:
        year_later = start.replace(year=start.year + 1)
    except ValueError:
        year_later = start.replace(year=start.year + 1, day=28)
    if end > year_later:
        raise ApiError.invalid(
            "The timeframe cannot be longer than 1 year.", pointer="/data/attributes/timeframe"
        )
    return start, end


def _add_months(d: datetime, months: int) -> datetime:
    index = d.year * 12 + d.month - 1 + months
    return d.replace(year=index // 12, month=index % 12 + 1, day=1)


def parse_report(
    body: Any, report_type: str, store: Store, now: datetime, known_metrics: set[str]
) -> ReportRequest:
    """Validate a report request body against the spec's request schema and Klaviyo's rules.

    Raises:
        ApiError: 400 with a pointer to the offending member.
    """
    if not isinstance(body, dict) or not isinstance(body.get("data"), dict):
        raise ApiError.invalid("body must be a JSON:API document with data", pointer="/data")
    data = body["data"]
    if data.get("type") != report_type:
        raise ApiError.invalid(f"data.type must be '{report_type}'", pointer="/data/type")
    attrs = data.get("attributes")
    if not isinstance(attrs, dict):
        raise ApiError.invalid("data.attributes is required", pointer="/data/attributes")
    schema = _attr_schema(report_type)
    props = schema["properties"]
    for req in schema.get("required", []):
        if attrs.get(req) in (None, ""):
            raise ApiError.invalid(f"'{req}' is required", pointer=f"/data/attributes/{req}")
    stats = attrs["statistics"]
    allowed_stats = set(props["statistics"]["items"]["enum"])
    if not isinstance(stats, list) or not stats:
        raise ApiError.invalid(
            "statistics must be a non-empty list", pointer="/data/attributes/statistics"
        )
    for s in stats:
        if s not in allowed_stats:
            raise ApiError.invalid(
                f"'{s}' is not a valid statistic", pointer="/data/attributes/statistics"
            )
    kind = report_type.split("-")[0]
    series = "-series-" in report_type
    if "conversion_metric_id" in props and attrs["conversion_metric_id"] not in known_metrics:
        raise ApiError.invalid(
            "conversion_metric_id is not a metric of this account",
            pointer="/data/attributes/conversion_metric_id",
        )
    group_by = attrs.get("group_by") or []
    if group_by and "group_by" in props:
        allowed_groups = set(props["group_by"]["items"]["enum"])
        for g in group_by:
            if g not in allowed_groups:
                raise ApiError.invalid(
                    f"'{g}' is not a valid group_by", pointer="/data/attributes/group_by"
                )
        for needed in {
            "campaign": ["campaign_id", "campaign_message_id"],
            "flow": ["flow_id", "flow_message_id"],
            "form": ["form_id"],
        }.get(kind, []):
            if needed not in group_by:
                raise ApiError.invalid(
                    f"group_by must contain {needed}", pointer="/data/attributes/group_by"
                )
    if not group_by:
        group_by = {
            "campaign": ["campaign_id", "campaign_message_id", "send_channel"],
            "flow": ["flow_id", "flow_message_id", "send_channel"],
            "form": ["form_id"],
            "segment": ["segment_id"],
        }[kind]
    start, end = _timeframe(attrs["timeframe"], store, now)
    interval = attrs.get("interval")
    if series:
        if interval not in INTERVAL_CAPS:
            raise ApiError.invalid(
                "interval must be hourly, daily, weekly or monthly",
                pointer="/data/attributes/interval",
            )
        if end - start > timedelta(days=INTERVAL_CAPS[interval]):
            raise ApiError.invalid(
                f"A {interval} series can cover at most {INTERVAL_CAPS[interval]} days.",
                pointer="/data/attributes/interval",
            )
    filters = _report_filters(attrs.get("filter"), kind)
    return ReportRequest(kind, series, list(stats), start, end, interval, list(group_by), filters)


_REPORT_FILTER_FIELDS = {
    "campaign": {"campaign_id", "campaign_message_id", "campaign_message_name", "send_channel",
                 "variation", "variation_name", "text_message_format", "tag_id", "tag_name"},
    "flow": {"flow_id", "flow_name", "flow_message_id", "flow_message_name", "send_channel",
             "variation", "variation_name", "text_message_format", "tag_id", "tag_name"},
    "form": {"form_id", "form_version_id"},
    "segment": {"segment_id"},
}  # fmt: skip


def _report_filters(text: Any, kind: str) -> list[Term]:
    if not text:
        return []
    terms = parse_filter(str(text))
    seen = set()
    for t in terms:
        if t.field not in _REPORT_FILTER_FIELDS[kind]:
            raise ApiError.invalid(
                f"cannot filter on '{t.field}'", pointer="/data/attributes/filter"
            )
        if t.field in seen:
            raise ApiError.invalid(
                "only one filter per attribute", pointer="/data/attributes/filter"
            )
        seen.add(t.field)
        is_list_attr = t.field in ("tag_id", "tag_name")
        ok_ops = (
            {"contains-any", "contains-all"}
            if is_list_attr
            else ({"equals", "any"} if kind in ("form", "segment") else {"equals", "contains-any"})
        )
        if t.op not in ok_ops:
            raise ApiError.invalid(
                f"operator '{t.op}' not allowed on '{t.field}'", pointer="/data/attributes/filter"
            )
        if isinstance(t.value, list) and len(t.value) > 100:
            raise ApiError.invalid(
                "at most 100 items per list filter", pointer="/data/attributes/filter"
            )
    return terms


def _passes(terms: list[Term], row: dict[str, Any]) -> bool:
    for t in terms:
        have = row.get(t.field)
        want = t.value if isinstance(t.value, list) else [t.value]
        want_s = {str(w) for w in want}
        if isinstance(have, list):
            have_s = {str(h) for h in have}
            if t.op == "contains-all" and not want_s <= have_s:
                return False
            if t.op != "contains-all" and not (want_s & have_s):
                return False
        elif str(have) not in want_s:
            return False
    return True


def _buckets(req: ReportRequest) -> list[datetime]:
    out = []
    cur = req.start
    while cur < req.end:
        out.append(cur)
        naive = cur.replace(tzinfo=None)
        if req.interval == "hourly":
            nxt = naive + timedelta(hours=1)
        elif req.interval == "weekly":
            nxt = naive + timedelta(days=7)
        elif req.interval == "monthly":
            nxt = _add_months(naive, 1)
        else:
            nxt = naive + timedelta(days=1)
        cur = nxt.replace(tzinfo=req.start.tzinfo)
    return out


def run_report(
    req: ReportRequest, store: Store, stats: StatsEngine, as_of: int
) -> tuple[dict[str, Any], list[tuple[str, str]]]:
    """Compute a report's ``attributes`` and the related object ids.

    Args:
        req: the validated request.
        store: the store.
        stats: its statistics engine.
        as_of: the simulator clock, epoch seconds.

    Returns:
        The ``attributes`` object (``results`` and, for series, ``date_times``) and
        (relationship type, id) pairs of the objects reported on.
    """
    m = store.marketing
    start_day = store.local_day_of(int(req.start.timestamp()))
    end_day = store.local_day_of(int(req.end.timestamp()) - 1)
    buckets = _buckets(req) if req.series else []
    bucket_days = [store.local_day_of(int(b.timestamp())) for b in buckets]

    def bucket_of(day: int) -> int:
        lo, hi = 0, len(bucket_days)
        while lo < hi:
            mid = (lo + hi) // 2
            if bucket_days[mid] <= day:
                lo = mid + 1
            else:
                hi = mid
        return lo - 1

    # Rows: (groupings, bucket index or 0, additive values)
    rows: list[tuple[dict[str, Any], int, Any]] = []
    related: list[tuple[str, str]] = []
    if req.kind == "campaign":
        for ci, counts in stats.campaign_counts(as_of).items():
            c = m.campaigns[ci]
            day = store.local_day_of(c.send_ts)
            if not start_day <= day <= end_day or c.send_ts >= req.end.timestamp():
                continue
            tags = [m.tag_ids[t] for t in c.tag_indices]
            base = {
                "campaign_id": c.id,
                "campaign_message_id": c.message_id,
                "campaign_message_name": c.name,
                "send_channel": CHANNEL_TO_REPORT[c.channel],
                "group": "",
                "group_name": "",
                "variation": c.message_id,
                "variation_name": c.name,
                "text_message_format": "sms" if c.channel == "sms" else "",
                "tag_id": tags,
                "tag_name": [TAG_NAMES[t] for t in c.tag_indices],
            }
            if _passes(req.filters, base):
                rows.append((base, 0, counts))
                related.append(("campaign", c.id))
    elif req.kind == "flow":
        for (mi, day), counts in stats.flow_counts(as_of).items():
            if not start_day <= day <= end_day:
                continue
            msg = m.flow_messages[mi]
            flow = m.flows[msg.flow_index]
            base = {
                "flow_id": flow.id,
                "flow_name": flow.name,
                "flow_message_id": msg.id,
                "flow_message_name": msg.name,
                "send_channel": CHANNEL_TO_REPORT[msg.channel],
                "variation": msg.id,
                "variation_name": msg.name,
                "text_message_format": "sms" if msg.channel == "sms" else "",
                "tag_id": [],
                "tag_name": [],
            }
            if _passes(req.filters, base):
                rows.append((base, bucket_of(day) if req.series else 0, counts))
                related.extend((("flow", flow.id), ("flow-message", msg.id)))
    elif req.kind == "form":
        for (fi, day), values in stats.form_counts(as_of).items():
            if not start_day <= day <= end_day:
                continue
            f = m.forms[fi]
            base = {"form_id": f.id, "form_version_id": f.version_ids[0]}
            if _passes(req.filters, base):
                rows.append((base, bucket_of(day) if req.series else 0, values))
    else:
        for (si, day), values in stats.segment_counts(as_of).items():
            if not start_day <= day <= end_day:
                continue
            base = {"segment_id": m.segments[si].id}
            if _passes(req.filters, base):
                rows.append((base, bucket_of(day) if req.series else 0, (day, values)))
    groups: dict[tuple[Any, ...], dict[str, Any]] = {}
    acc: dict[tuple[Any, ...], dict[int, Any]] = {}
    for base, bucket, value in rows:
        grouping = {g: base.get(g, "") for g in req.group_by}
        expanded = [grouping]
        for list_attr in ("tag_id", "tag_name"):
            if list_attr in grouping:
                expanded = [
                    {**e, list_attr: v} for e in expanded for v in (base[list_attr] or [""])
                ]
        for grp in expanded:
            key = tuple(sorted((k, str(v)) for k, v in grp.items()))
            groups[key] = grp
            slot = acc.setdefault(key, {})
            slot[bucket] = _combine(req.kind, slot.get(bucket), value)
    n_buckets = len(buckets) if req.series else 1
    results = []
    for key, grp in sorted(groups.items()):
        per_bucket = [_finish(req.kind, acc[key].get(b), grp) for b in range(n_buckets)]
        statistics: dict[str, Any]
        if req.series:
            statistics = {s: [pb[s] for pb in per_bucket] for s in req.statistics}
        else:
            statistics = {s: per_bucket[0][s] for s in req.statistics}
        results.append({"groupings": grp, "statistics": statistics})
    attrs: dict[str, Any] = {"results": results}
    if req.series:
        attrs["date_times"] = [b.isoformat() for b in buckets]
    return attrs, sorted(set(related))


def _combine(kind: str, have: Any, value: Any) -> Any:
    if have is None:
        return value
    if kind in ("campaign", "flow"):
        assert isinstance(have, MessageCounts)
        return have + value
    if kind == "form":
        return {k: have[k] + value[k] for k in have}
    # Segments: totals are the last day's, changes add up.
    (d0, v0), (d1, v1) = have, value
    last = v1 if d1 >= d0 else v0
    return (
        max(d0, d1),
        {
            "total_members": last["total_members"],
            "members_added": v0["members_added"] + v1["members_added"],
            "members_removed": v0["members_removed"] + v1["members_removed"],
            "net_members_changed": v0["net_members_changed"] + v1["net_members_changed"],
        },
    )


_FORM_ZERO = (
    "viewed_form", "viewed_form_uniques", "viewed_form_step", "viewed_form_step_uniques",
    "submitted_form_step", "submitted_form_step_uniques", "submits", "qualified_form",
    "qualified_form_uniques", "closed_form", "closed_form_uniques",
)  # fmt: skip


_FINISH: dict[str, Callable[[Any, dict[str, Any]], dict[str, float]]] = {
    "campaign": lambda v, g: message_statistics(
        v or MessageCounts(), g.get("send_channel") == "sms"
    ),
    "flow": lambda v, g: message_statistics(v or MessageCounts(), g.get("send_channel") == "sms"),
    "form": lambda v, g: form_statistics(v or dict.fromkeys(_FORM_ZERO, 0)),
    "segment": lambda v, g: dict(v[1]) if v else dict.fromkeys(SEGMENT_STATISTICS, 0),
}


def _finish(kind: str, value: Any, grouping: dict[str, Any]) -> dict[str, float]:
    return _FINISH[kind](value, grouping)
