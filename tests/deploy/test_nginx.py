"""The hub behind nginx, as deploy/nginx/ctt-hub.conf sets it up: TLS with a self-signed
certificate on loopback, two hub processes upstream, a report submitted through it."""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import shutil
import ssl
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from hub.crypto import verify_acknowledgement
from hub.settings import Settings
from keys import load_public_keyset
from schemas.envelope import Envelope
from tests.clock import real_now
from tests.conftest import ROOT, Network, provision
from tests.factories import report_body
from tests.faults.harness import Process, free_port, hub_process, running, wait_until


def self_signed(folder: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 and localhost, and its key."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = real_now()  # OpenSSL checks the dates against the real clock, not the suite's
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "fullchain.pem", folder / "privkey.pem"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


def nginx_config(folder: Path, upstreams: list[int], tls_port: int, http_port: int) -> Path:
    """deploy/nginx/ctt-hub.conf with the test's ports, certificate and log paths."""
    cert, key = self_signed(folder)
    site = (ROOT / "deploy" / "nginx" / "ctt-hub.conf").read_text(encoding="utf-8")
    servers = "".join(
        f"    server 127.0.0.1:{p} max_fails=3 fail_timeout=10s;\n" for p in upstreams
    )
    site = site.replace(
        "    server 127.0.0.1:8001 max_fails=3 fail_timeout=10s;\n"
        "    server 127.0.0.1:8002 max_fails=3 fail_timeout=10s;\n",
        servers,
    )
    for old, new in [
        ("listen 443 ssl http2;", f"listen 127.0.0.1:{tls_port} ssl http2;"),
        ("listen 80;", f"listen 127.0.0.1:{http_port};"),
        ("/etc/ctt-hub/tls/fullchain.pem", str(cert)),
        ("/etc/ctt-hub/tls/privkey.pem", str(key)),
        ("/var/log/nginx/", f"{folder}/"),
    ]:
        assert old in site, old
        site = site.replace(old, new)
    (folder / "ctt-hub.conf").write_text(site)
    user = "user root;\n" if os.geteuid() == 0 else ""
    main = f"""{user}worker_processes 1;
pid {folder}/nginx.pid;
error_log {folder}/error.log warn;
events {{ worker_connections 256; }}
http {{
    client_body_temp_path {folder}/body;
    proxy_temp_path {folder}/proxy;
    fastcgi_temp_path {folder}/fastcgi;
    uwsgi_temp_path {folder}/uwsgi;
    scgi_temp_path {folder}/scgi;
    access_log off;
    include {folder}/ctt-hub.conf;
}}
"""
    path = folder / "nginx.conf"
    path.write_text(main)
    return path


@pytest.fixture
def nginx_binary() -> str:
    found = shutil.which("nginx") or (
        "/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None
    )
    assert found, "nginx missing: run deploy/dev/install-nginx.sh (make test does)"
    return found


@dataclass
class Deployment:
    tls_url: str
    http_url: str
    trust: ssl.SSLContext
    network: Network
    hubs: list[Process]


@pytest.fixture
def behind_nginx(settings: Settings, tmp_path: Path, nginx_binary: str) -> Iterator[Deployment]:
    hubs = [hub_process(settings, free_port(), tmp_path / f"hub-{i}.log") for i in range(2)]
    tls_port, http_port = free_port(), free_port()
    folder = tmp_path / "nginx"
    folder.mkdir()
    config = nginx_config(folder, [int(h.url.rsplit(":", 1)[1]) for h in hubs], tls_port, http_port)
    tls_url = f"https://127.0.0.1:{tls_port}"
    network = provision(settings, tmp_path / "parties", tls_url)
    trust = ssl.create_default_context(cafile=str(folder / "fullchain.pem"))
    with running(*hubs), (folder / "stderr.log").open("wb") as log:
        server = subprocess.Popen(
            [nginx_binary, "-c", str(config), "-p", str(folder), "-g", "daemon off;"],
            stdout=subprocess.DEVNULL,
            stderr=log,
        )
        try:
            wait_until(lambda: _answers(tls_url, trust), 20, "nginx to start")
            yield Deployment(tls_url, f"http://127.0.0.1:{http_port}", trust, network, hubs)
        finally:
            server.terminate()
            server.wait(timeout=20)


def _answers(url: str, trust: ssl.SSLContext) -> bool:
    try:
        return httpx.get(f"{url}/readyz", verify=trust, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def test_a_report_submitted_through_nginx_with_tls_is_accepted_and_acknowledged(
    behind_nginx: Deployment, settings: Settings
) -> None:
    body = report_body()
    answer = httpx.post(
        f"{behind_nginx.tls_url}/v1/reports",
        json=body,
        headers=behind_nginx.network.auth("portal-nl"),
        verify=behind_nginx.trust,
    )
    assert answer.status_code == 202, answer.text
    hub = load_public_keyset(settings.hub_public_key_file)
    ack = verify_acknowledgement(
        Envelope.model_validate(answer.json()["acknowledgement"]), {hub.signing_key_id: hub.signing}
    )
    assert str(ack.report_id) == body["report_id"]


def test_nginx_redirects_plain_http_refuses_untrusted_tls_and_passes_the_hubs_413(
    behind_nginx: Deployment,
) -> None:
    redirect = httpx.get(f"{behind_nginx.http_url}/v1/inbox")
    assert redirect.status_code == 301
    assert redirect.headers["location"].startswith("https://")
    with pytest.raises(httpx.ConnectError):
        # The system's trust store does not know this certificate.
        httpx.get(f"{behind_nginx.tls_url}/healthz")
    big = report_body(free_text="x" * 280_000)
    answer = httpx.post(
        f"{behind_nginx.tls_url}/v1/reports",
        json=big,
        headers=behind_nginx.network.auth("portal-nl"),
        verify=behind_nginx.trust,
    )
    assert answer.status_code == 413
    assert answer.headers["content-type"] == "application/problem+json"


def test_reports_posted_while_one_hub_process_is_dead_are_all_accepted_by_the_other(
    behind_nginx: Deployment,
) -> None:
    behind_nginx.hubs[0].kill()
    for _ in range(4):  # least_conn sends some of them to the dead process first
        answer = httpx.post(
            f"{behind_nginx.tls_url}/v1/reports",
            json=report_body(),
            headers=behind_nginx.network.auth("portal-nl"),
            verify=behind_nginx.trust,
        )
        assert answer.status_code == 202, answer.text


def test_the_nginx_site_retries_a_reports_post_on_the_next_process() -> None:
    site = (ROOT / "deploy" / "nginx" / "ctt-hub.conf").read_text(encoding="utf-8")
    retry = next(line for line in site.splitlines() if "proxy_next_upstream " in line)
    # Without non_idempotent nginx never resends a POST once it reached a process.
    assert "non_idempotent" in retry.rstrip(";").split()
