"""OpenAPI conformance: every endpoint's responses, and the requests made here, validate against
Klaviyo's published spec (revision 2026-07-15) with openapi-core."""

from __future__ import annotations

import copy
from urllib.parse import parse_qsl, urlsplit

import httpx
import orjson
import pytest
from openapi_core import Config, OpenAPI
from openapi_core.testing import MockRequest, MockResponse

from klaviyo_analytics.simulator.spec import SERVED, spec_document
from tests.simulator.conftest import metric_id

SERVER = "https://a.klaviyo.com"


AMBIGUOUS = ("send_options", "tracking_options", "message", "definition")


def _relax(node: object) -> None:
    """Turn the spec's unsatisfiable ``oneOf``s into ``anyOf``.

    ``send_options`` (Email/SMS/PushSendOptions) and ``tracking_options`` of a campaign are
    required, and each is a ``oneOf`` of schemas with identical properties and no required
    member, so every value matches several branches and no response can pass a strict ``oneOf``.
    Flow messages have the same defect (``FlowEmail`` and ``FlowWhatsApp`` accept the same
    objects). Only these members are relaxed; everything else is validated as published.
    """
    if isinstance(node, dict):
        for key, value in node.items():
            if key in AMBIGUOUS and isinstance(value, dict) and "oneOf" in value:
                value["anyOf"] = value.pop("oneOf")
            _relax(value)
    elif isinstance(node, list):
        for value in node:
            _relax(value)


@pytest.fixture(scope="module")
def openapi() -> OpenAPI:
    """The spec, loaded without the spec self-check it does not pass (see its README)."""
    doc = copy.deepcopy(spec_document())
    _relax(doc)
    return OpenAPI.from_dict(doc, config=Config(spec_validator_cls=None))


def check(openapi: OpenAPI, response: httpx.Response) -> None:
    """Validate a request/response pair against the spec; fail with the validator's errors."""
    req = response.request
    url = urlsplit(str(req.url))
    args = dict(parse_qsl(url.query, keep_blank_values=True))
    headers = {k: v for k, v in req.headers.items() if k in ("revision", "authorization")}
    mock_req = MockRequest(
        SERVER,
        req.method.lower(),
        url.path.rstrip("/"),
        args=args,
        headers=headers,
        data=req.content or None,
        content_type="application/vnd.api+json" if req.content else "application/json",
    )
    openapi.validate_request(mock_req)
    mock_resp = MockResponse(
        response.content,
        status_code=response.status_code,
        headers=dict(response.headers),
        content_type=response.headers["content-type"],
    )
    openapi.validate_response(mock_req, mock_resp)


def report_body(kind: str, placed: str, series: bool) -> dict:
    stats = {
        "campaign": ["recipients", "delivered", "opens_unique", "clicks_unique", "conversions",
                     "conversion_value", "open_rate"],
        "flow": ["recipients", "opens_unique", "conversion_value", "click_rate"],
        "form": ["viewed_form", "submits", "submit_rate"],
        "segment": ["total_members", "members_added", "members_removed", "net_members_changed"],
    }[kind]  # fmt: skip
    attrs: dict = {"statistics": stats, "timeframe": {"key": "last_30_days"}}
    if kind in ("campaign", "flow"):
        attrs["conversion_metric_id"] = placed
    if series:
        attrs["interval"] = "daily"
    rtype = f"{kind}-{'series' if series else 'values'}-report"
    return {"data": {"type": rtype, "attributes": attrs}}


def test_every_served_endpoint_conforms(client: httpx.Client, openapi: OpenAPI) -> None:
    placed = metric_id(client, "Placed Order")
    covered: set[tuple[str, str]] = set()

    def get(template: str, url: str) -> httpx.Response:
        r = client.get(url)
        assert r.status_code == 200, r.text
        check(openapi, r)
        covered.add(("GET", template))
        return r

    get("/api/accounts", "/api/accounts")
    get("/api/metrics", "/api/metrics")
    get("/api/metrics/{id}", f"/api/metrics/{placed}")
    for include in ("profile", "metric", "profile,metric"):
        get("/api/events", f'/api/events?filter=equals(metric_id,"{placed}")&include={include}')
    r = get(
        "/api/events",
        "/api/events?page[size]=300&sort=-datetime&filter=greater-or-equal(datetime,"
        "2026-01-01T00:00:00Z)&fields[event]=datetime,event_properties",
    )
    assert len(r.json()["data"]) > 100
    for ch in ("email", "sms", "mobile_push"):
        r = get(
            "/api/campaigns",
            f"/api/campaigns?filter=equals(messages.channel,'{ch}')&include=campaign-messages,tags",
        )
    camp = r.json()["data"][0]["id"]
    get("/api/campaigns/{id}", f"/api/campaigns/{camp}")
    get("/api/campaigns/{id}/campaign-messages", f"/api/campaigns/{camp}/campaign-messages")
    email = get("/api/campaigns", "/api/campaigns?filter=equals(messages.channel,'email')")
    for c in email.json()["data"][:5]:
        get("/api/campaigns/{id}/campaign-messages", f"/api/campaigns/{c['id']}/campaign-messages")
        get("/api/campaigns/{id}/tags", f"/api/campaigns/{c['id']}/tags")
    flows = get("/api/flows", "/api/flows?include=flow-actions").json()["data"]
    for f in flows:
        get("/api/flows/{id}", f"/api/flows/{f['id']}")
        actions = get("/api/flows/{id}/flow-actions", f"/api/flows/{f['id']}/flow-actions")
        for a in actions.json()["data"]:
            get(
                "/api/flow-actions/{id}/flow-messages",
                f"/api/flow-actions/{a['id']}/flow-messages",
            )
    get("/api/forms", "/api/forms")
    get("/api/segments", "/api/segments")
    for kind, series in [("campaign", False), ("flow", False), ("flow", True), ("form", False),
                         ("form", True), ("segment", False), ("segment", True)]:  # fmt: skip
        path = f"/api/{kind}-{'series' if series else 'values'}-reports"
        r = client.post(path, content=orjson.dumps(report_body(kind, placed, series)),
                        headers={"content-type": "application/vnd.api+json"})  # fmt: skip
        assert r.status_code == 200, r.text
        assert r.json()["data"]["attributes"]["results"], path
        check(openapi, r)
        covered.add(("POST", path))
    assert covered == set(SERVED)


def test_error_bodies_conform(client: httpx.Client, openapi: OpenAPI) -> None:
    for url in ("/api/campaigns?filter=equals(name,'x')", "/api/events?page[size]=1001"):
        r = client.get(url)
        assert r.status_code == 400
        mock_req = MockRequest(SERVER, "get", urlsplit(url).path, headers={"revision": "x"})
        openapi.validate_response(
            mock_req,
            MockResponse(r.content, status_code=400, content_type=r.headers["content-type"]),
        )
