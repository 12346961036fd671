"""Embedding (clickjacking protection) proven in real Chromium: a page on another origin frames the portal."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.realservers import free_port, port_open, spawn, stop, wait_until

pytestmark = [pytest.mark.slow, pytest.mark.e2e]


@pytest.fixture
def framing_page(tmp_path):
    def start(target: str) -> tuple[str, object]:
        site = tmp_path / "framer"
        site.mkdir(exist_ok=True)
        (site / "index.html").write_text(f'<!doctype html><title>Intranet</title><h1>Intranet</h1>'
                                         f'<iframe id="desk" src="{target}/login" width="800" height="500"></iframe>')
        port = free_port()
        proc = spawn([sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1", "--directory", site],
                     tmp_path / "framer.log")
        wait_until(lambda: port_open(port), proc, "http.server")
        return f"http://127.0.0.1:{port}", proc

    procs = []

    def run(target):
        url, proc = start(target)
        procs.append(proc)
        return url

    yield run
    for proc in procs:
        stop(proc)


def frame_state(page, url):
    page.goto(url)
    page.wait_for_load_state("load")
    time.sleep(0.5)
    frame = next(f for f in page.frames if f != page.main_frame)
    return frame.url


def set_setting(site, key, value):
    plugdesk = str(Path(sys.executable).with_name("plugdesk"))
    subprocess.run([plugdesk, "--config", str(site["config"]), "settings", "set", key, value], check=True,
                   capture_output=True)
    time.sleep(1.1)  # runtime settings are cached for at most one second per process


def test_framing_blocked_by_default_and_allowed_for_listed_origin(live_server, framing_page, page, screenshot):
    site = live_server()
    framer = framing_page(site["url"])
    assert frame_state(page, framer).startswith("chrome-error://")
    screenshot(page, "blocked")
    set_setting(site, "security.embedding.allowed", "true")
    set_setting(site, "security.embedding.origins", f'["{framer}"]')
    assert frame_state(page, framer) == f"{site['url']}/login"
    frame = next(f for f in page.frames if f != page.main_frame)
    expect(frame.get_by_role("heading", name="Log in")).to_be_visible()
    screenshot(page, "allowed")
    set_setting(site, "security.embedding.origins", '["https://intranet.example.com"]')
    assert frame_state(page, framer).startswith("chrome-error://")
