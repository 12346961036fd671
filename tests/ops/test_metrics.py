"""/metrics: protected, and its counters move with real requests (in-process and across two gunicorn workers)."""

from __future__ import annotations

import glob
import re
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.ops.helpers import Client, init_site, pdf
from tests.realservers import free_port

TOKEN = "scrape-token-for-tests-0123456789"


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """``{(sample name, sorted labels): value}`` parsed with prometheus_client's own parser."""
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def value(found: dict, name: str, **labels: str) -> float:
    return found.get((name, tuple(sorted(labels.items()))), 0.0)


@pytest.fixture
def site(tmp_path: Path) -> Client:
    config = init_site(tmp_path / "src", extra_toml=f'[metrics]\ntoken = "{TOKEN}"\n')
    client = Client(config)
    client.app.extensions["plugdesk.ops"]["collector"].ttl = 0  # no caching of the database figures here
    return client


def scrape(site: Client, **headers: str) -> Any:
    return site.client.get("/metrics", headers=headers)


def test_metrics_are_protected(site: Client, tmp_path: Path) -> None:
    assert scrape(site).status_code == 401
    assert scrape(site, Authorization="Bearer wrong").status_code == 401
    assert scrape(site, Authorization=f"Bearer {TOKEN}").status_code == 200
    ok = scrape(site, Authorization=f"Bearer {site.token}")  # an admin's API token always works
    assert ok.status_code == 200 and ok.content_type.startswith("text/plain")
    r = site.client.post("/api/v1/auth/register", json={"username": "carol", "email": "carol@example.com",
                                                        "password": "carol's long password 1"})
    assert r.status_code == 201, r.get_json()
    carol = site.client.post("/api/v1/auth/login", json={"username": "carol",
                                                         "password": "carol's long password 1"}).get_json()["token"]
    assert scrape(site, Authorization=f"Bearer {carol}").status_code == 401  # not an admin
    config = init_site(tmp_path / "open", extra_toml='[metrics]\nallow_from = ["127.0.0.0/8"]\n')
    assert Client(config).client.get("/metrics").status_code == 200  # the test client comes from 127.0.0.1


def test_counters_move_with_requests(site: Client) -> None:
    auth = {"Authorization": f"Bearer {TOKEN}"}
    before = samples(scrape(site, **auth).get_data(as_text=True))
    for _ in range(3):
        site.client.get("/healthz")
    site.client.post("/api/v1/auth/login", json={"username": "admin", "password": "wrong password"})
    site.client.post("/api/v1/auth/login", json={"username": "admin", "password": site.password})
    ticket = site.ticket("Metrics", "Count me.", [("a.pdf", pdf(1))])
    site.reply(ticket["id"], "Counted.", [])
    site.client.get(f"/api/v1/tickets/{ticket['id']}", headers=site.headers)
    after = samples(scrape(site, **auth).get_data(as_text=True))

    def delta(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert delta("plugdesk_http_requests_total", method="GET", route="/healthz", status="200") == 3
    assert delta("plugdesk_http_requests_total", method="GET", route="/api/v1/tickets/<int:ticket_id>",
                 status="200") == 1  # the route rule, not the raw path
    assert delta("plugdesk_http_request_duration_seconds_count", method="GET", route="/healthz") == 3
    assert delta("plugdesk_logins_total", result="failed") == 1 and delta("plugdesk_logins_total", result="ok") == 1
    assert delta("plugdesk_tickets_opened_total") == 1
    assert delta("plugdesk_ticket_replies_total", author="agent") == 1
    assert any(name == "plugdesk_plugin_hook_calls_total" and dict(labels).get("plugin") == "auth_local"
               for name, labels in after)
    assert value(after, "plugdesk_storage_blobs") >= 1 and value(after, "plugdesk_db_pool_capacity") > 0
    assert value(after, "plugdesk_outbox_depth") >= 0
    assert any(name == "plugdesk_build_info" and dict(labels)["schema_state"] == "current" for name, labels in after)
    dashboard = (Path(__file__).parents[2] / "docs" / "grafana-dashboard.json").read_text()
    exposed = {name for name, _labels in after} | {"plugdesk_backups_total", "plugdesk_plugin_hook_errors_total",
                                                   "plugdesk_ticket_replies_total"}  # no sample until one happens
    for name in set(re.findall(r"plugdesk_[a-z_]+", dashboard)) - {"plugdesk_overview"}:
        assert name in exposed or f"{name}_total" in exposed, f"the dashboard uses {name}, which is not exported"


def test_locked_logins_and_active_lockouts(site: Client) -> None:
    from core.app_state import state

    state(site.app).runtime.patch({"security.brute_force.max_failures": 2}, actor="test")
    for _ in range(3):
        site.client.post("/api/v1/auth/login", json={"username": "admin", "password": "nope"})
    found = samples(scrape(site, Authorization=f"Bearer {TOKEN}").get_data(as_text=True))
    assert value(found, "plugdesk_logins_total", result="locked") == 1
    assert value(found, "plugdesk_lockouts_total") == 1 and value(found, "plugdesk_lockouts_active") == 1


def _get(url: str, token: str | None = None) -> tuple[int, str]:
    req = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"} if token else {})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, ""


@pytest.mark.slow
def test_two_gunicorn_workers_share_counters(live_server: Any, tmp_path: Path) -> None:
    import os

    from prometheus_client.mmap_dict import MmapedDict

    port = free_port()
    mp = tmp_path / "prom"
    site = live_server(workers=2, extra_toml=f'[metrics]\ntoken = "{TOKEN}"\nbind = "127.0.0.1:{port}"\n',
                       env={"PROMETHEUS_MULTIPROC_DIR": str(mp)})
    url = site["url"]
    assert _get(f"{url}/metrics")[0] == 401
    before = samples(_get(f"{url}/metrics", TOKEN)[1])
    for _ in range(40):  # a new connection each time: both workers answer some
        assert _get(f"{url}/healthz")[0] == 200
    after = samples(_get(f"{url}/metrics", TOKEN)[1])
    key = {"method": "GET", "route": "/healthz", "status": "200"}
    assert value(after, "plugdesk_http_requests_total", **key) - value(before, "plugdesk_http_requests_total",
                                                                       **key) == 40
    pids = {Path(f).stem.split("_")[-1] for f in glob.glob(str(mp / "counter_*.db"))
            if any("plugdesk_http_requests" in k for k, *_ in MmapedDict.read_all_values_from_file(f))}
    assert len(pids) == 2, pids  # both workers counted; the scrape summed them
    status, body = _get(f"http://127.0.0.1:{port}/metrics")  # the private listener needs no token
    assert status == 200
    assert value(samples(body), "plugdesk_http_requests_total", **key) >= 40
    assert os.environ.get("PROMETHEUS_MULTIPROC_DIR") is None
