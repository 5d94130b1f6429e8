"""``hubcli serve --tls-cert/--tls-key``: the hub speaks HTTPS itself (uvicorn's TLS), its URLs
say ``https``, the session cookie gets ``Secure``; a client that trusts the certificate downloads
as over HTTP. The certificate is self-signed, made in the test (``cryptography``, else
``openssl req``; skipped without either)."""

from __future__ import annotations

import datetime as dt
import re
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
import requests

from tests.fixtures.hub import HubFixture


def make_cert(d: Path) -> tuple[Path, Path]:
    cert, key = d / "cert.pem", d / "key.pem"
    try:
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import NameOID
    except ImportError:
        if shutil.which("openssl") is None:
            pytest.skip("neither the cryptography package nor openssl is installed")
        args = ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]
        args += ["-keyout", str(key), "-out", str(cert), "-days", "2", "-subj", "/CN=localhost"]
        args += ["-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"]
        subprocess.run(
            ["openssl", *args],
            check=True,
            capture_output=True,
        )
        return cert, key
    import ipaddress

    k = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = dt.datetime.now(dt.timezone.utc)
    c = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(k.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=2))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(k, hashes.SHA256())
    )
    cert.write_bytes(c.public_bytes(serialization.Encoding.PEM))
    key.write_bytes(
        k.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert, key


def test_tls_hub_pages_cookie_and_downloads(
    hub_server_factory: Callable[..., HubFixture], tmp_path: Path
) -> None:
    cert, key = make_cert(tmp_path)
    hub = hub_server_factory(tls_cert=cert, tls_key=key)
    hub.seed_repo("alice/secret", {"README.md": "# Secret\n", "w.txt": "private"}, private=True)
    hub.seed_repo("alice/big", {"w.bin": b"\1" * 4096})  # LFS: a redirect to the CDN listener
    base = hub.url.replace("http://", "https://")
    assert hub.url.startswith("https://") or base != hub.url
    with pytest.raises(requests.exceptions.SSLError):  # an untrusted certificate is refused
        requests.get(base + "/", timeout=30)
    s = requests.Session()
    s.verify = str(cert)
    s.trust_env = False  # else REQUESTS_CA_BUNDLE, when set, wins over s.verify
    form = s.get(base + "/login", timeout=30)
    assert form.status_code == 200 and "Strict" in form.headers["Set-Cookie"]
    assert "Secure" in form.headers["Set-Cookie"]  # the pre-session cookie too
    csrf = re.search(r'name="csrf" value="([^"]+)"', form.text)
    assert csrf
    r = s.post(
        base + "/login",
        data={"csrf": csrf.group(1), "token": hub.alice_token, "next": "/alice/secret"},
        allow_redirects=False,
        timeout=30,
    )
    assert r.status_code == 303
    cookie = r.headers["Set-Cookie"]
    assert cookie.startswith("hub_session=") and "Secure" in cookie and "HttpOnly" in cookie
    page = s.get(base + "/alice/secret", timeout=30)
    assert page.status_code == 200 and "Secret" in page.text
    assert f"HF_ENDPOINT={base} hubcli download alice/secret" in page.text  # https in the lines
    # API clients: the LFS redirect goes to the CDN listener over https too
    r = s.get(base + "/alice/big/resolve/main/w.bin", allow_redirects=False, timeout=30)
    assert r.status_code == 302 and r.headers["Location"].startswith("https://")
    assert s.get(base + "/alice/big/resolve/main/w.bin", timeout=30).content == b"\1" * 4096


def test_serve_cli_tls_options(tmp_path: Path) -> None:
    """The real ``hubcli serve --tls-cert --tls-key``: its URL says https, sign-in's cookie gets
    ``Secure``; one option without the other is refused."""
    import subprocess
    import sys

    cert, key = make_cert(tmp_path)
    base_cmd = [sys.executable, "-m", "hubcli", "serve", "--root", str(tmp_path / "root")]
    half = subprocess.run(
        [*base_cmd, "--tls-cert", str(cert)], capture_output=True, text=True, timeout=60
    )
    assert half.returncode == 2 and "--tls-key" in half.stderr
    cmd = [*base_cmd, "--tls-cert", str(cert), "--tls-key", str(key), "--token", "hf_tls:alice"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().strip()
        assert url.startswith("https://"), url
        s = requests.Session()
        s.verify, s.trust_env = str(cert), False
        form = s.get(url + "/login", timeout=30)
        csrf = re.search(r'name="csrf" value="([^"]+)"', form.text)
        assert csrf
        r = s.post(
            url + "/login",
            data={"csrf": csrf.group(1), "token": "hf_tls"},
            allow_redirects=False,
            timeout=30,
        )
        assert r.status_code == 303 and "Secure" in r.headers["Set-Cookie"]
        assert s.get(url + "/api/whoami-v2", headers={"Authorization": "Bearer hf_tls"}).ok
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert "hf_tls" not in err
