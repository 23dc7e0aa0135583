"""Typed views of the JSON:API documents the sync reads (revision 2026-07-15).

Parsing is deliberately light: plain slotted dataclasses built straight from ``orjson`` output;
events pages are not parsed at all (:class:`RawEventPage`: simdjson validates them and ClickHouse
parses them). Every parser tolerates missing optional fields (real accounts are messier than the
simulator, docs/event-payloads.md) and raises
:class:`~klaviyo_analytics.klaviyo.errors.BadResponseError` only when the document's skeleton is
wrong.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import simdjson

from klaviyo_analytics.klaviyo.errors import BadResponseError


def parse_datetime(value: object) -> datetime | None:
    """An ISO-8601 string (``Z`` or offset) as an aware datetime, or None."""
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class Resource:
    """One JSON:API resource object.

    Attributes:
        type: the resource type, e.g. ``event``.
        id: the resource id.
        attributes: the ``attributes`` object.
        relationships: the ``relationships`` object.
    """

    type: str
    id: str
    attributes: Mapping[str, Any]
    relationships: Mapping[str, Any]

    @classmethod
    def parse(cls, raw: object) -> Resource:
        """Build from a decoded resource object.

        Raises:
            BadResponseError: ``raw`` is not an object with a type and an id.
        """
        if not isinstance(raw, dict) or "type" not in raw or "id" not in raw:
            raise BadResponseError("GET", "?", 200, 1, "resource object without type/id")
        return cls(
            str(raw["type"]),
            str(raw["id"]),
            raw.get("attributes") or {},
            raw.get("relationships") or {},
        )

    def related_id(self, name: str) -> str | None:
        """The id of a to-one relationship, when Klaviyo filled its ``data``."""
        rel = self.relationships.get(name)
        if isinstance(rel, dict):
            data = rel.get("data")
            if isinstance(data, dict) and data.get("id") is not None:
                return str(data["id"])
        return None

    def related_ids(self, name: str) -> list[str]:
        """The ids of a to-many relationship (empty when absent)."""
        rel = self.relationships.get(name)
        if isinstance(rel, dict) and isinstance(rel.get("data"), list):
            return [str(d["id"]) for d in rel["data"] if isinstance(d, dict) and "id" in d]
        return []


@dataclass(frozen=True, slots=True)
class Page:
    """One page of a collection.

    Attributes:
        data: the resources of this page.
        included: included resources keyed by (type, id).
        next_url: the absolute URL of the next page, or None on the last page.
    """

    data: list[Resource]
    included: dict[tuple[str, str], Resource]
    next_url: str | None

    @classmethod
    def parse(cls, doc: object, method: str = "GET", path: str = "?") -> Page:
        """Build from a decoded collection document.

        Raises:
            BadResponseError: the document has no ``data`` array.
        """
        if not isinstance(doc, dict) or not isinstance(doc.get("data"), list):
            raise BadResponseError(method, path, 200, 1, "collection document without data[]")
        data = [Resource.parse(r) for r in doc["data"]]
        included: dict[tuple[str, str], Resource] = {}
        for raw in doc.get("included") or []:
            res = Resource.parse(raw)
            included[(res.type, res.id)] = res
        links = doc.get("links") or {}
        nxt = links.get("next") if isinstance(links, dict) else None
        return cls(data, included, nxt if isinstance(nxt, str) and nxt else None)


@dataclass(frozen=True, slots=True)
class Account:
    """The Klaviyo account behind a key or token."""

    id: str
    timezone: str
    currency: str

    @classmethod
    def from_resource(cls, res: Resource) -> Account:
        """Build from an ``account`` resource."""
        attrs = res.attributes
        return cls(
            res.id,
            str(attrs.get("timezone") or "UTC"),
            str(attrs.get("preferred_currency") or "USD"),
        )


@dataclass(frozen=True, slots=True)
class Metric:
    """A metric (event type) and the integration that produces it."""

    id: str
    name: str
    integration_name: str | None
    integration_category: str | None
    updated: datetime | None

    @classmethod
    def from_resource(cls, res: Resource) -> Metric:
        """Build from a ``metric`` resource."""
        attrs = res.attributes
        integ = attrs.get("integration")
        integ = integ if isinstance(integ, dict) else {}
        name = integ.get("name")
        cat = integ.get("category")
        return cls(
            res.id,
            str(attrs.get("name") or ""),
            str(name) if name is not None else None,
            str(cat) if cat is not None else None,
            parse_datetime(attrs.get("updated")),
        )


@dataclass(frozen=True, slots=True)
class RawEventPage:
    """A page of events kept as the bytes Klaviyo sent (ClickHouse parses them, not Python).

    Attributes:
        body: the JSON:API document, validated.
        events: how many events ``data`` holds.
        rows: the sum of the caller's per-event row count (see :meth:`scan`).
        newest: the latest event time on the page (None for an empty page).
        next_url: the next page's URL, or None on the last page.
    """

    body: bytes
    events: int
    rows: int
    newest: datetime | None
    next_url: str | None

    @classmethod
    def scan(
        cls,
        body: bytes,
        parser: simdjson.Parser,
        rows: Callable[[simdjson.Object], int] | None = None,
    ) -> RawEventPage:
        """Validate a page and read what the sync needs from it, without building its objects.

        simdjson checks the whole document (a truncated or malformed page raises) and hands out
        only ``links.next`` and the events' times; the events themselves stay bytes.

        Args:
            body: the response body.
            parser: a simdjson parser (reused across pages of one thread; not thread-safe).
            rows: how many warehouse rows one event makes (summed into ``rows``); 1 if None.

        Raises:
            ValueError: the body is not JSON, not a collection document with ``data[]``, or an
                event has neither a usable ``datetime`` nor ``timestamp``.
        """
        doc = parser.parse(body)
        if not isinstance(doc, simdjson.Object):
            raise ValueError("collection document is not an object")
        data = doc.get("data")
        if not isinstance(data, simdjson.Array):
            raise ValueError("collection document without data[]")
        newest: datetime | None = None
        total = 0
        event = attrs = None
        for event in data:
            if not isinstance(event, simdjson.Object):
                raise ValueError("an event is not an object")
            attrs = event.get("attributes")
            if not isinstance(attrs, simdjson.Object):
                raise ValueError("event without attributes")
            total += rows(event) if rows is not None else 1
            when = parse_datetime(attrs.get("datetime"))
            if when is None:
                ts = attrs.get("timestamp")
                if not isinstance(ts, int | float):
                    raise ValueError("an event has neither datetime nor timestamp")
                when = datetime.fromtimestamp(float(ts), UTC)
            if newest is None or when > newest:
                newest = when
        links = doc.get("links")
        nxt = links.get("next") if isinstance(links, simdjson.Object) else None
        count = len(data)
        del data, doc, event, attrs  # simdjson proxies must not outlive the next parse
        return cls(body, count, total, newest, nxt if isinstance(nxt, str) and nxt else None)


@dataclass(frozen=True, slots=True)
class CampaignMessage:
    """A campaign message: its id, channel and subject (email only)."""

    id: str
    channel: str
    label: str
    subject: str


@dataclass(frozen=True, slots=True)
class Campaign:
    """A campaign with what the warehouse stores about it."""

    id: str
    name: str
    status: str
    channel: str
    send_time: datetime | None
    messages: list[CampaignMessage] = field(default_factory=list)
    tag_names: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class NamedEntity:
    """A flow, flow message, form or segment: an id and a display name."""

    id: str
    name: str
    parent_id: str | None = None
    channel: str | None = None


@dataclass(frozen=True, slots=True)
class ReportRow:
    """One result of a values report: its groupings and scalar statistics."""

    groupings: Mapping[str, str]
    statistics: Mapping[str, float]


@dataclass(frozen=True, slots=True)
class SeriesRow:
    """One result of a series report: groupings and per-bucket statistics."""

    groupings: Mapping[str, str]
    statistics: Mapping[str, list[float]]


@dataclass(frozen=True, slots=True)
class SeriesReport:
    """A series report: the bucket start times and one row per grouping."""

    date_times: list[datetime]
    results: list[SeriesRow]


def _report_attrs(doc: object, path: str) -> Mapping[str, Any]:
    if not isinstance(doc, dict) or not isinstance(doc.get("data"), dict):
        raise BadResponseError("POST", path, 200, 1, "report document without data")
    attrs = doc["data"].get("attributes")
    if not isinstance(attrs, dict) or not isinstance(attrs.get("results"), list):
        raise BadResponseError("POST", path, 200, 1, "report without attributes.results")
    return attrs


def _num(value: object) -> float:
    return float(value) if isinstance(value, int | float) else 0.0


def parse_values_report(doc: object, path: str) -> list[ReportRow]:
    """Rows of a values report.

    Raises:
        BadResponseError: the document is not a report.
    """
    rows: list[ReportRow] = []
    for item in _report_attrs(doc, path)["results"]:
        groupings = {str(k): str(v) for k, v in (item.get("groupings") or {}).items()}
        stats = {str(k): _num(v) for k, v in (item.get("statistics") or {}).items()}
        rows.append(ReportRow(groupings, stats))
    return rows


def parse_series_report(doc: object, path: str) -> SeriesReport:
    """A series report.

    Raises:
        BadResponseError: the document is not a series report or its arrays are misaligned.
    """
    attrs = _report_attrs(doc, path)
    stamps = [parse_datetime(v) for v in attrs.get("date_times") or []]
    if any(s is None for s in stamps):
        raise BadResponseError("POST", path, 200, 1, "series report with a bad date_times entry")
    date_times = [s for s in stamps if s is not None]
    results: list[SeriesRow] = []
    for item in attrs["results"]:
        groupings = {str(k): str(v) for k, v in (item.get("groupings") or {}).items()}
        stats: dict[str, list[float]] = {}
        for name, values in (item.get("statistics") or {}).items():
            if not isinstance(values, list) or len(values) != len(date_times):
                raise BadResponseError(
                    "POST", path, 200, 1, f"series statistic {name} is not aligned with date_times"
                )
            stats[str(name)] = [_num(v) for v in values]
        results.append(SeriesRow(groupings, stats))
    return SeriesReport(date_times, results)
