"""API behaviour: revision, auth, scopes, filters, page sizes, pagination, reports' limits."""

from __future__ import annotations

from datetime import timedelta

import httpx

from klaviyo_analytics.simulator import SimulatorServer
from tests.simulator.conftest import REVISION, key_headers, metric_id, walk


def _error(r: httpx.Response, status: int) -> dict:
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == "application/vnd.api+json"
    err = r.json()["errors"][0]
    assert {"id", "code", "title", "detail"} <= set(err)
    return err


def test_revision_header_required(sim: SimulatorServer) -> None:
    key = sim.accounts[0].api_key
    r = httpx.get(
        f"{sim.base_url}/api/metrics", headers={"Authorization": f"Klaviyo-API-Key {key}"}
    )
    assert _error(r, 400)["source"] == {"parameter": "revision"}
    r = httpx.get(
        f"{sim.base_url}/api/metrics", headers={**key_headers(key), "revision": "2023-01-01"}
    )
    _error(r, 400)


def test_auth_and_accounts(sim: SimulatorServer) -> None:
    r = httpx.get(f"{sim.base_url}/api/accounts", headers={"revision": REVISION})
    assert _error(r, 401)["code"] == "not_authenticated"
    r = httpx.get(f"{sim.base_url}/api/accounts", headers=key_headers("pk_wrong"))
    _error(r, 401)
    ids = set()
    for creds in sim.accounts:
        r = httpx.get(f"{sim.base_url}/api/accounts/", headers=key_headers(creds.api_key))
        account = r.json()["data"][0]
        assert account["id"] == creds.public_id
        assert account["attributes"]["timezone"] == creds.timezone
        ids.add(account["id"])
    assert len(ids) == 2


def test_metrics_share_names_across_integrations(client: httpx.Client) -> None:
    data = client.get("/api/metrics").json()["data"]
    placed = [m for m in data if m["attributes"]["name"] == "Placed Order"]
    assert {m["attributes"]["integration"]["name"] for m in placed} == {"Shopify", "API"}
    shopify = client.get('/api/metrics?filter=equals(integration.name,"Shopify")').json()["data"]
    assert {m["attributes"]["integration"]["name"] for m in shopify} == {"Shopify"}
    assert "Cancelled Order" in {m["attributes"]["name"] for m in shopify}


def test_invalid_filters_and_page_sizes(client: httpx.Client) -> None:
    for url, param in [
        ("/api/events?filter=equals(name,'x')", "filter"),
        ("/api/events?filter=greater-than(datetime,'2025-01-01T00:00:00Z')", "filter"),
        ("/api/events?filter=contains(metric_id,'x')", "filter"),
        ("/api/events?filter=equals(metric_id", "filter"),
        ("/api/events?page[size]=1001", "page[size]"),
        ("/api/events?page[size]=0", "page[size]"),
        ("/api/segments?page[size]=11", "page[size]"),
        ("/api/flows?page[size]=51", "page[size]"),
        ("/api/events?sort=name", "sort"),
        ("/api/events?include=lists", "include"),
        ("/api/events?page[cursor]=not-a-cursor", "page[cursor]"),
        ("/api/campaigns?filter=equals(messages.channel,'fax')", "filter"),
    ]:
        err = _error(client.get(url), 400)
        assert err["source"] == {"parameter": param}, url


def test_campaigns_need_channel_filter(client: httpx.Client) -> None:
    err = _error(client.get("/api/campaigns"), 400)
    assert err["source"]["parameter"] == "filter"
    err = _error(client.get("/api/campaigns?filter=equals(archived,false)"), 400)
    assert "channel" in err["detail"]
    total = 0
    for ch in ("email", "sms", "mobile_push"):
        items = walk(client, f"/api/campaigns?filter=equals(messages.channel,'{ch}')&page[size]=7")
        assert items and all(c["type"] == "campaign" for c in items)
        total += len(items)
    assert len({c["id"] for c in items}) == len(items)
    assert total > 100


def test_pagination_is_complete_and_stable(client: httpx.Client) -> None:
    placed = metric_id(client, "Placed Order")
    base = f'/api/events?filter=equals(metric_id,"{placed}")'
    small = walk(client, base + "&page[size]=37")
    big = walk(client, base + "&page[size]=1000")
    assert [e["id"] for e in small] == [e["id"] for e in big]
    assert len({e["id"] for e in small}) == len(small)
    times = [e["attributes"]["timestamp"] for e in small]
    assert times == sorted(times)
    desc = walk(client, base + "&page[size]=50&sort=-datetime")
    assert [e["id"] for e in desc] == [e["id"] for e in reversed(big)]
    assert len(walk(client, "/api/segments?page[size]=2")) == 6
    assert client.get("/api/events/?page[size]=5").status_code == 200


def test_datetime_filters(client: httpx.Client, sim: SimulatorServer) -> None:
    placed = metric_id(client, "Placed Order")
    start = "2026-01-01T00:00:00Z"
    end = "2026-02-01T00:00:00%2B00:00"
    url = (
        f'/api/events?filter=and(equals(metric_id,"{placed}"),greater-or-equal(datetime,{start}),'
        f"less-than(datetime,{end}))&page[size]=10"
    )
    items = walk(client, url)
    assert items
    for e in items:
        assert "2026-01-01" <= e["attributes"]["datetime"] < "2026-02-01"
    now_ts = int(sim.clock.timestamp())
    assert all(
        e["attributes"]["timestamp"] <= now_ts
        for e in walk(client, "/api/events?page[size]=1000&sort=-datetime")
    )


def test_report_limits(client: httpx.Client) -> None:
    placed = metric_id(client, "Placed Order")

    def post(path: str, attrs: dict, rtype: str) -> httpx.Response:
        return client.post(path, json={"data": {"type": rtype, "attributes": attrs}})

    long = {"start": "2025-01-01T00:00:00", "end": "2026-02-01T00:00:00"}
    r = post(
        "/api/campaign-values-reports",
        {"statistics": ["opens"], "timeframe": long, "conversion_metric_id": placed},
        "campaign-values-report",
    )
    assert "1 year" in _error(r, 400)["detail"]
    r = post(
        "/api/campaign-values-reports",
        {"statistics": ["opens"], "timeframe": {"key": "last_30_days"}},
        "campaign-values-report",
    )
    assert _error(r, 400)["source"]["pointer"] == "/data/attributes/conversion_metric_id"
    days61 = {"start": "2026-01-01T00:00:00", "end": "2026-03-03T00:00:00"}
    r = post(
        "/api/flow-series-reports",
        {
            "statistics": ["recipients"],
            "timeframe": days61,
            "interval": "daily",
            "conversion_metric_id": placed,
        },
        "flow-series-report",
    )
    _error(r, 400)
    r = post(
        "/api/flow-series-reports",
        {
            "statistics": ["recipients"],
            "timeframe": days61,
            "interval": "weekly",
            "conversion_metric_id": placed,
        },
        "flow-series-report",
    )
    assert r.status_code == 200
    r = post(
        "/api/segment-series-reports",
        {"statistics": ["bogus"], "timeframe": {"key": "last_7_days"}, "interval": "daily"},
        "segment-series-report",
    )
    _error(r, 400)
    days60 = {"start": "2026-01-01T00:00:00-08:00", "end": "2026-03-02T00:00:00-08:00"}
    r = post(
        "/api/segment-series-reports",
        {"statistics": ["total_members"], "timeframe": days60, "interval": "daily"},
        "segment-series-report",
    )
    doc = r.json()["data"]["attributes"]
    assert len(doc["date_times"]) == 60
    # The offset is ignored: the account's timezone (New York, UTC-5 in January) is applied.
    assert doc["date_times"][0] == "2026-01-01T00:00:00-05:00"
    assert all(len(res["statistics"]["total_members"]) == 60 for res in doc["results"])
    r = post(
        "/api/flow-values-reports",
        {
            "statistics": ["recipients"],
            "timeframe": {"key": "last_90_days"},
            "conversion_metric_id": placed,
            "filter": 'equals(send_channel,"sms")',
        },
        "flow-values-report",
    )
    assert {g["groupings"]["send_channel"] for g in r.json()["data"]["attributes"]["results"]} == {
        "sms"
    }
    assert timedelta(days=1)


def test_date_header_follows_the_simulator_clock(sim, client) -> None:
    from email.utils import parsedate_to_datetime

    r = client.get("/api/metrics")
    assert len(r.headers.get_list("date")) == 1
    assert parsedate_to_datetime(r.headers["date"]) == sim.clock.now().replace(microsecond=0)
    bad = client.get("/api/metrics", headers={"revision": ""})
    assert parsedate_to_datetime(bad.headers["date"]) == sim.clock.now().replace(microsecond=0)


def test_request_log_has_time_and_query(sim, client) -> None:
    import time

    before = time.monotonic()
    client.get("/api/metrics?filter=equals(integration.category,%22API%22)")
    entry = sim.request_log[-1]
    method, path, status, public_id = entry  # still unpacks like the old 4-tuple
    assert (method, path, status) == ("GET", "/api/metrics", 200)
    assert (entry.method, entry.path, entry.status, entry.public_id) == tuple(entry)
    assert public_id == sim.accounts[0].public_id
    assert entry.query == "filter=equals(integration.category,%22API%22)"
    assert before <= entry.at <= time.monotonic()


def test_fast_rendering_matches_the_reference_payloads(sim) -> None:
    """The text renderer gives exactly orjson.dumps of the reference event dicts (both take
    customers from the same vectorised generator; positions span many days, with duplicates)."""
    import orjson

    from klaviyo_analytics.simulator.app import Request

    acct = sim.app.account_by_index(0)
    events = acct.events
    req = Request({"method": "GET", "path": "/", "headers": [(b"host", b"h")]}, b"")
    for key in ("placed", "refunded", "cancelled"):
        n = events.count(key)
        positions = sorted({0, n - 1, *range(0, n, max(1, n // 97))})
        positions += positions[:3]  # duplicates across a page are allowed
        fast = events.renderer.render(key, positions, "http://127.0.0.1:9")
        ref = events.render(key, positions, "http://127.0.0.1:9")
        assert [f.encode() for f in fast] == [orjson.dumps(e) for e in ref], key
        prefix = orjson.dumps("http://h/api/profiles/").decode()[:-1]
        for pos in positions[:20]:
            number = events.profile_of(key, pos)
            want = orjson.dumps(sim.app._profile(req, acct, number))
            assert events.renderer.profile_json(number, prefix).encode() == want


def test_customer_generator_is_vectorised_and_block_independent() -> None:
    """A customer is the same whatever block generates it; ids are unique and invertible; the
    tag and location shares follow their probabilities."""
    import numpy as np

    from klaviyo_analytics.simulator.catalog import (
        LOCATIONS,
        TAG_PROBABILITIES,
        customer,
        customer_block,
        profile_number,
    )

    numbers = np.arange(40_000)
    block = customer_block(7, 1, numbers)
    shuffled = np.random.default_rng(0).permutation(numbers)[:500]
    other = customer_block(7, 1, shuffled)
    for i, n in enumerate(shuffled.tolist()[:200]):
        assert other.get(i) == block.get(n) == customer(7, 1, n)
    assert customer_block(7, 0, [5]).get(0) != block.get(5)  # accounts differ
    assert customer_block(8, 1, [5]).get(0) != block.get(5)  # seeds differ
    assert len(set(block.profile_id)) == len(numbers)
    assert len(set(block.emails())) == len(numbers)
    for n in (0, 1, 12_345, 39_999):
        assert profile_number(7, 1, block.profile_id[n], len(numbers)) == n
    assert profile_number(7, 1, block.profile_id[39_999], 39_999) is None
    assert profile_number(7, 0, block.profile_id[5], len(numbers)) is None
    assert profile_number(7, 1, "not-a-profile-id", len(numbers)) is None
    for bit, (_, p) in enumerate(TAG_PROBABILITIES):
        assert abs(((block.tags >> bit) & 1).mean() - p) < 0.01
    weights = np.array([loc[6] for loc in LOCATIONS]) / sum(loc[6] for loc in LOCATIONS)
    shares = np.bincount(block.location, minlength=len(LOCATIONS)) / len(numbers)
    assert np.abs(shares - weights).max() < 0.01


def test_included_profiles_match_the_events(client: httpx.Client) -> None:
    """Every event's profile is included once, and the order's customer, shipping address and
    profile describe the same person; the profile filter finds the customer's orders."""
    placed = metric_id(client, "Placed Order")
    doc = client.get(
        f'/api/events?filter=equals(metric_id,"{placed}")&page[size]=200&include=profile'
    ).json()
    profiles = {p["id"]: p for p in doc["included"]}
    assert len(profiles) == len(doc["included"])
    assert {e["relationships"]["profile"]["data"]["id"] for e in doc["data"]} == set(profiles)
    for e in doc["data"]:
        x = e["attributes"]["event_properties"]["$extra"]
        attrs = profiles[e["relationships"]["profile"]["data"]["id"]]["attributes"]
        assert x["email"] == x["customer"]["email"] == attrs["email"]
        assert x["customer"]["first_name"] == attrs["first_name"]
        assert x["shipping_address"]["zip"] == attrs["location"]["zip"]
        assert x["shipping_address"]["city"] == attrs["location"]["city"]
        assert str(x["customer"]["id"]) == attrs["external_id"]
        assert x["customer"]["tags"] == ", ".join(attrs["properties"]["Shopify Tags"])
    pid = doc["data"][0]["relationships"]["profile"]["data"]["id"]
    mine = walk(client, f'/api/events?filter=equals(profile_id,"{pid}")&page[size]=200')
    assert mine and all(e["relationships"]["profile"]["data"]["id"] == pid for e in mine)


def test_fast_pages_match_the_object_path(client: httpx.Client) -> None:
    """Pages of the order streams come from the vectorised renderer, also with the sync's sparse
    fieldsets; their bytes are what filtering the full objects gives (``_sparse`` + orjson), and
    the body is sent with a content-length (not chunked)."""
    import orjson

    sync_fields = "&fields[event]=datetime,timestamp,event_properties&fields[profile]=email"
    other_fields = "&fields[event]=event_properties,uuid&fields[profile]=" + ",".join(
        [
            "email", "phone_number", "external_id", "first_name", "last_name",
            "organization", "locale", "location", "properties",
        ]
    )  # fmt: skip
    for name in ("Placed Order", "Refunded Order", "Cancelled Order"):
        base = f'/api/events?filter=equals(metric_id,"{metric_id(client, name)}")&page[size]=100'
        full = client.get(base + "&include=profile")
        assert full.headers["content-length"] == str(len(full.content))
        assert "transfer-encoding" not in full.headers
        doc = orjson.loads(full.content)
        assert orjson.dumps(doc) == full.content
        for fields in (sync_fields, other_fields):
            r = client.get(base + "&include=profile" + fields)
            assert r.status_code == 200, r.text
            wanted = {
                k[7:-1]: {f.split(".")[0] for f in v.split(",")}
                for k, v in httpx.URL(base + fields).params.multi_items()
                if k.startswith("fields[")
            }
            want = {
                "data": [
                    {**e, "attributes": {k: v for k, v in e["attributes"].items() if k in wanted["event"]}}
                    for e in doc["data"]
                ],
                "links": orjson.loads(r.content)["links"],
                "included": [
                    {**p, "attributes": {k: v for k, v in p["attributes"].items() if k in wanted["profile"]}}
                    for p in doc["included"]
                ],
            }  # fmt: skip
            assert r.content == orjson.dumps(want), (name, fields)
