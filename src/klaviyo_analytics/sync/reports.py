"""Report-based data types: campaign, flow, form and segment statistics from the Reporting API.

The Reporting API allows 2 calls a minute and 225 a day per endpoint, so every entity of a type
goes into one call (grouped by id) and daily series are chunked to the 60-day cap. Campaigns have
no series report: a campaign row's ``date`` is its send date (account-local) and carries the
campaign's lifetime totals, re-read while the campaign is inside the attribution window. Rates
arrive as fractions in [0, 1] and are stored ×100.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from klaviyo_analytics.klaviyo.client import CAMPAIGN_CHANNELS
from klaviyo_analytics.klaviyo.models import Campaign, NamedEntity, SeriesReport
from klaviyo_analytics.metadata import CampaignGroupings, CampaignStat, CampaignStatistics
from klaviyo_analytics.sync.scope import ScopedSync, StoreScope
from klaviyo_analytics.sync.transform import day_range, local_midnight
from klaviyo_analytics.warehouse import Table

#: Daily series reports accept at most 60 days per call.
SERIES_DAILY_MAX_DAYS = 60
#: Any custom timeframe is at most one year.
REPORT_MAX_DAYS = 365
#: The Reporting API's ``send_channel`` values that the spec's tables spell differently
#: (``send_channel String -- 'email', 'sms', 'push'``); others (email, sms, whatsapp) pass through.
SPEC_CHANNEL = {"push-notification": "push", "mobile_push": "push"}


def spec_channel(channel: str) -> str:
    """A Reporting API channel in the warehouse's vocabulary (``push-notification`` → ``push``)."""
    return SPEC_CHANNEL.get(channel, channel)


#: Segment reports hold no data before this day.
SEGMENT_DATA_START = date(2023, 6, 1)

COUNT_STATS = (
    "recipients",
    "delivered",
    "bounced",
    "failed",
    "opens",
    "opens_unique",
    "clicks",
    "clicks_unique",
    "conversions",
    "conversion_uniques",
    "conversion_value",
    "unsubscribes",
)
#: (warehouse column, report statistic, denominator statistic used to weight several messages).
RATE_STATS = (
    ("open_rate_pct", "open_rate", "delivered"),
    ("click_rate_pct", "click_rate", "delivered"),
    ("conversion_rate_pct", "conversion_rate", "delivered"),
    ("unsubscribe_rate_pct", "unsubscribe_rate", "delivered"),
    ("bounce_rate_pct", "bounce_rate", "recipients"),
    ("delivery_rate_pct", "delivery_rate", "recipients"),
)
MESSAGE_STATS = (*COUNT_STATS, *(r[1] for r in RATE_STATS))
FORM_STATS = {
    "viewed_form": "viewed_form",
    "viewed_form_uniques": "viewed_form_uniques",
    "submits": "submits",
    # Klaviyo has no ``submits_unique`` statistic; unique submitters are the unique profiles
    # that submitted a step (spec/data-model.md names the column after the old API field).
    "submits_unique": "submitted_form_step_uniques",
    "qualified_form": "qualified_form",
    "qualified_form_uniques": "qualified_form_uniques",
}
SEGMENT_STATS = {
    "total_members": "total_members",
    "new_members": "members_added",
    "removed_members": "members_removed",
    "daily_change": "net_members_changed",
}


def series_calls(days: int) -> int:
    """Daily series calls needed for ``days`` days (the 60-day cap)."""
    return max(1, -(-days // SERIES_DAILY_MAX_DAYS))


@dataclass
class ReportOutcome:
    """What one report data type wrote.

    Attributes:
        rows_written: warehouse rows inserted.
        report_calls: Reporting API calls made.
    """

    rows_written: int = 0
    report_calls: int = 0


def _message_row(stats_per_message: Sequence[Mapping[str, float]]) -> dict[str, float]:
    """Sum counts and weight rates of several messages into one row (×100 for rates)."""
    out: dict[str, float] = {c: sum(m.get(c, 0.0) for m in stats_per_message) for c in COUNT_STATS}
    for column, stat, weight in RATE_STATS:
        if len(stats_per_message) == 1:
            out[column] = stats_per_message[0].get(stat, 0.0) * 100
            continue
        total = sum(m.get(weight, 0.0) for m in stats_per_message)
        out[column] = (
            sum(m.get(stat, 0.0) * m.get(weight, 0.0) for m in stats_per_message) / total * 100
            if total
            else 0.0
        )
    return out


class ReportSync(ScopedSync):
    """Writes the four statistics tables for one account.

    Args:
        scope: the store being synced.
        conversion_metric_id: the Placed Order metric (campaign/flow reports need it).
    """

    def __init__(
        self,
        scope: StoreScope,
        *,
        conversion_metric_id: str,
    ) -> None:
        super().__init__(scope)
        self.conversion_metric_id = conversion_metric_id

    def _insert(self, table: Table, columns: Sequence[str], rows: list[list[Any]]) -> int:
        if not rows:
            return 0
        return self.warehouse.insert_rows(table.value, rows, columns)

    # -- campaigns ---------------------------------------------------------------------
    def sync_campaigns(self, first_day: date, now: datetime) -> tuple[ReportOutcome, int]:
        """Campaigns sent on or after ``first_day`` (account-local) up to ``now``.

        Returns:
            (outcome, campaignstats documents upserted) — the stats go to MongoDB by the caller.
        """
        campaigns: dict[str, Campaign] = {}
        for channel in CAMPAIGN_CHANNELS:
            for campaign in self.client.iter_campaigns(channel):
                campaigns[campaign.id] = campaign
        #: Tag names of every campaign read (for the ``campaign_tags`` helper table).
        self.campaign_tags: dict[str, list[str]] = {
            cid: list(c.tag_names) for cid, c in campaigns.items()
        }
        local_now = now.astimezone(self.tz)
        first_day = max(first_day, local_now.date() - timedelta(days=REPORT_MAX_DAYS - 1))
        start = local_midnight(first_day, self.tz)
        rows = self.client.values_report(
            "campaign",
            MESSAGE_STATS,
            start,
            local_now,
            conversion_metric_id=self.conversion_metric_id,
            group_by=("campaign_id", "campaign_message_id", "send_channel"),
        )
        self.progress.advance("campaigns", len(rows))
        per_campaign: dict[str, list[Mapping[str, float]]] = defaultdict(list)
        channel_of: dict[str, str] = {}
        self.stats: list[CampaignStat] = []
        updated = datetime.now(UTC).replace(microsecond=0)
        for row in rows:
            cid = row.groupings.get("campaign_id", "")
            found = campaigns.get(cid)
            if found is None or found.send_time is None:
                continue
            campaign = found
            per_campaign[cid].append(row.statistics)
            channel = row.groupings.get("send_channel", campaign.channel)
            channel_of[cid] = spec_channel(channel)
            mid = row.groupings.get("campaign_message_id", "")
            subject = next((m.subject for m in campaign.messages if m.id == mid), "")
            self.stats.append(
                CampaignStat(
                    klaviyo_public_id=self.kid,
                    store_public_ids=[self.store_public_id],
                    groupings=CampaignGroupings(
                        send_channel=channel, campaign_id=cid, campaign_message_id=mid
                    ),
                    campaign_name=campaign.name,
                    subject=subject or None,
                    tag_names=list(campaign.tag_names),
                    statistics=CampaignStatistics(
                        recipients=int(row.statistics.get("recipients", 0)),
                        delivered=int(row.statistics.get("delivered", 0)),
                        opens_unique=int(row.statistics.get("opens_unique", 0)),
                        clicks_unique=int(row.statistics.get("clicks_unique", 0)),
                        conversions=int(row.statistics.get("conversions", 0)),
                        conversion_value=round(row.statistics.get("conversion_value", 0.0), 2),
                    ),
                    updated_at=updated,
                )
            )
        columns = [
            "klaviyo_public_id",
            "campaign_id",
            "campaign_name",
            "send_channel",
            "date",
            *COUNT_STATS,
            *(r[0] for r in RATE_STATS),
            "updated_at",
        ]
        out_rows: list[list[Any]] = []
        for cid, stats in per_campaign.items():
            campaign = campaigns[cid]
            assert campaign.send_time is not None
            merged = _message_row(stats)
            out_rows.append(
                [
                    self.kid,
                    cid,
                    campaign.name,
                    channel_of[cid],
                    campaign.send_time.astimezone(self.tz).date(),
                    *(merged[c] for c in COUNT_STATS),
                    *(merged[r[0]] for r in RATE_STATS),
                    updated,
                ]
            )
        outcome = ReportOutcome(self._insert(Table.CAMPAIGN_STATISTICS, columns, out_rows), 1)
        return outcome, len(self.stats)

    # -- series ------------------------------------------------------------------------
    def _series(
        self,
        kind: str,
        statistics: Iterable[str],
        first_day: date,
        now: datetime,
        group_by: Sequence[str] | None,
    ) -> tuple[list[tuple[SeriesReport, int]], int]:
        """Daily series from ``first_day`` to ``now`` in 60-day calls."""
        local_now = now.astimezone(self.tz)
        today = local_now.date()
        first_day = max(first_day, today - timedelta(days=REPORT_MAX_DAYS - 1))
        reports: list[tuple[SeriesReport, int]] = []
        chunks = day_range(first_day, today + timedelta(days=1), SERIES_DAILY_MAX_DAYS)
        for start, end in chunks:
            end_dt = local_now if end > today else local_midnight(end, self.tz)
            report = self.client.series_report(
                kind,
                statistics,
                local_midnight(start, self.tz),
                end_dt,
                interval="daily",
                conversion_metric_id=self.conversion_metric_id if kind == "flow" else None,
                group_by=group_by,
            )
            reports.append((report, len(report.results)))
            self.progress.advance(f"{kind}s", len(report.results))
        return reports, len(chunks)

    def _days(self, report: SeriesReport, first_day: date, today: date) -> list[date | None]:
        days: list[date | None] = []
        for stamp in report.date_times:
            # Buckets are account-local midnights; read the wall date, not the UTC one.
            day = stamp.astimezone(self.tz).date() if stamp.utcoffset() else stamp.date()
            days.append(day if first_day <= day <= today else None)
        return days

    def sync_flows(self, first_day: date, now: datetime) -> ReportOutcome:
        """Daily flow statistics per flow message from ``first_day``."""
        flows = {f.id: f.name for f in self.client.iter_flows()}
        names = self._known_flow_message_names()
        reports, calls = self._series(
            "flow", MESSAGE_STATS, first_day, now, ("flow_id", "flow_message_id", "send_channel")
        )
        wanted = {
            r.groupings.get("flow_id", "")
            for rep, _ in reports
            for r in rep.results
            if r.groupings.get("flow_message_id", "") not in names
        }
        for flow_id in sorted(wanted):
            if flow_id in flows:
                for message in self.client.iter_flow_messages(flow_id):
                    names[message.id] = message.name
        today = now.astimezone(self.tz).date()
        columns = [
            "klaviyo_public_id",
            "flow_id",
            "flow_name",
            "flow_message_id",
            "flow_message_name",
            "send_channel",
            "date",
            *COUNT_STATS,
            *(r[0] for r in RATE_STATS),
            "updated_at",
        ]
        updated = datetime.now(UTC).replace(microsecond=0)
        rows: list[list[Any]] = []
        for report, _ in reports:
            days = self._days(report, first_day, today)
            for result in report.results:
                g = result.groupings
                channel = spec_channel(g.get("send_channel", ""))
                for i, day in enumerate(days):
                    if day is None:
                        continue
                    stats = {k: v[i] for k, v in result.statistics.items()}
                    if not stats.get("recipients"):
                        continue  # no sends that day: Klaviyo's UI shows no row either
                    merged = _message_row([stats])
                    rows.append(
                        [
                            self.kid,
                            g.get("flow_id", ""),
                            flows.get(g.get("flow_id", ""), ""),
                            g.get("flow_message_id", ""),
                            names.get(g.get("flow_message_id", ""), ""),
                            channel,
                            day,
                            *(merged[c] for c in COUNT_STATS),
                            *(merged[r[0]] for r in RATE_STATS),
                            updated,
                        ]
                    )
        return ReportOutcome(self._insert(Table.FLOW_STATISTICS, columns, rows), calls)

    def _known_flow_message_names(self) -> dict[str, str]:
        rows = self.warehouse.rows(
            "SELECT flow_message_id, any(flow_message_name) FROM flow_statistics AS f FINAL "
            "WHERE klaviyo_public_id = {kid:String} AND flow_message_name != '' "
            "GROUP BY flow_message_id",
            {"kid": self.kid},
        )
        return {str(r[0]): str(r[1]) for r in rows}

    def sync_forms(self, first_day: date, now: datetime) -> ReportOutcome:
        """Daily form statistics per form from ``first_day``."""
        forms = {f.id: f.name for f in self.client.iter_forms()}
        return self._simple_series(
            "form", Table.FORM_STATISTICS, "form_id", "form_name", forms, FORM_STATS, first_day, now
        )

    def sync_segments(self, first_day: date, now: datetime) -> ReportOutcome:
        """Daily segment statistics per segment from ``first_day`` (not before 2023-06-01)."""
        segments = {s.id: s.name for s in self.client.iter_segments()}
        return self._simple_series(
            "segment",
            Table.SEGMENT_STATISTICS,
            "segment_id",
            "segment_name",
            segments,
            SEGMENT_STATS,
            max(first_day, SEGMENT_DATA_START),
            now,
        )

    def _simple_series(
        self,
        kind: str,
        table: Table,
        id_column: str,
        name_column: str,
        names: Mapping[str, str],
        mapping: Mapping[str, str],
        first_day: date,
        now: datetime,
    ) -> ReportOutcome:
        group_by = (id_column,) if kind == "form" else None
        reports, calls = self._series(kind, sorted(set(mapping.values())), first_day, now, group_by)
        today = now.astimezone(self.tz).date()
        columns = ["klaviyo_public_id", id_column, name_column, "date", *mapping, "updated_at"]
        updated = datetime.now(UTC).replace(microsecond=0)
        integer = kind == "segment"
        skip_empty = kind == "form"
        rows: list[list[Any]] = []
        for report, _ in reports:
            days = self._days(report, first_day, today)
            for result in report.results:
                entity = result.groupings.get(id_column, "")
                for i, day in enumerate(days):
                    if day is None:
                        continue
                    values = [
                        result.statistics.get(stat, [0.0] * len(days))[i]
                        for stat in mapping.values()
                    ]
                    if skip_empty and not values[0]:
                        continue  # a form with no views that day has no row
                    rows.append(
                        [
                            self.kid,
                            entity,
                            names.get(entity, ""),
                            day,
                            *(int(round(v)) if integer else v for v in values),
                            updated,
                        ]
                    )
        return ReportOutcome(self._insert(table, columns, rows), calls)


def named(entities: Iterable[NamedEntity]) -> dict[str, str]:
    """id → name of entities."""
    return {e.id: e.name for e in entities}
