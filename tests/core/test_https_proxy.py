"""Force HTTPS behind a real nginx reverse proxy (Debian's nginx on loopback, TLS with the test CA)."""

from __future__ import annotations

import http.client
import shutil
import ssl
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.realservers import free_port, port_open, spawn, stop, wait_until

pytestmark = pytest.mark.slow

NGINX_CONF = """\
worker_processes 1;
pid {d}/nginx.pid;
error_log {d}/error.log;
events {{ worker_connections 64; }}
http {{
  access_log off;
  client_body_temp_path {d}/body; proxy_temp_path {d}/proxy; fastcgi_temp_path {d}/fcgi;
  uwsgi_temp_path {d}/uwsgi; scgi_temp_path {d}/scgi;
  upstream plugdesk {{ server 127.0.0.1:{app}; }}
  server {{
    listen 127.0.0.1:{http};
    location / {{ proxy_pass http://plugdesk; proxy_set_header Host $http_host;
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for; proxy_set_header X-Forwarded-Proto $scheme; }}
  }}
  server {{
    listen 127.0.0.1:{https} ssl;
    ssl_certificate {cert}; ssl_certificate_key {key};
    location / {{ proxy_pass http://plugdesk; proxy_set_header Host $http_host;
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for; proxy_set_header X-Forwarded-Proto $scheme; }}
  }}
}}
"""


@pytest.fixture
def proxied_site(live_server, certs, tmp_path):
    if not shutil.which("nginx") and not Path("/usr/sbin/nginx").exists():
        pytest.fail("nginx is not installed (apt-get install nginx-light)")
    http_port, https_port = free_port(), free_port()
    site = live_server(extra_toml="", env={"PLUGDESK_SERVER_TRUSTED_PROXIES": "1",
                                           "PLUGDESK_SERVER_BASE_URL": f"https://127.0.0.1:{https_port}"})
    plugdesk = str(Path(sys.executable).with_name("plugdesk"))
    subprocess.run([plugdesk, "--config", str(site["config"]), "settings", "set", "security.force_https", "true"],
                   check=True, capture_output=True)
    time.sleep(1.1)  # runtime settings are cached for at most one second per process
    d = tmp_path / "nginx"
    d.mkdir()
    app_port = int(site["url"].rsplit(":", 1)[1])
    (d / "nginx.conf").write_text(NGINX_CONF.format(d=d, app=app_port, http=http_port, https=https_port, **certs))
    proc = spawn(["/usr/sbin/nginx", "-c", d / "nginx.conf", "-p", d, "-g", "daemon off;"], d / "nginx.log")
    wait_until(lambda: port_open(https_port), proc, "nginx", log=d / "error.log")
    yield {"http": http_port, "https": https_port, "ca": certs["ca"], **site}
    stop(proc)


def request(port, method, path, tls_ca=None, body=None):
    if tls_ca:
        conn = http.client.HTTPSConnection("127.0.0.1", port, context=ssl.create_default_context(cafile=tls_ca),
                                           timeout=10)
    else:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.request(method, path, body=body, headers={"Content-Type": "application/json"} if body else {})
    response = conn.getresponse()
    response.read()
    conn.close()
    return response


def test_http_redirects_to_https_and_https_gets_hsts(proxied_site):
    https = proxied_site["https"]
    r = request(proxied_site["http"], "GET", "/login?next=/profile")
    assert r.status == 301 and r.getheader("Location") == f"https://127.0.0.1:{https}/login?next=/profile"
    assert r.getheader("Strict-Transport-Security") is None  # never on http
    r = request(proxied_site["http"], "POST", "/api/v1/auth/login", body='{"username":"a","password":"b"}')
    assert r.status == 308
    r = request(https, "GET", "/login", tls_ca=proxied_site["ca"])
    assert r.status == 200  # no redirect loop behind the proxy
    assert r.getheader("Strict-Transport-Security") == "max-age=31536000"
    assert "Secure" in r.getheader("Set-Cookie") and "HttpOnly" in r.getheader("Set-Cookie")


def test_unauthenticated_redirect_stays_on_https(proxied_site):
    r = request(proxied_site["https"], "GET", "/profile", tls_ca=proxied_site["ca"])
    assert r.status == 302
    location = r.getheader("Location")
    assert location.startswith("/login") or location.startswith(f"https://127.0.0.1:{proxied_site['https']}/")
