"""--proxy through real proxies on loopback (tests/proxy_rig.py: microsocks, Dante,
tinyproxy; Debian packages that .ci/run installs) in front of the fake MX servers of
fixtures/scenarios/tester.toml. A proxy's failure must read as the proxy's, never as
the MX's, and the transcript shows the route."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from smtpdiag.core.proxyurl import parse_proxy
from smtpdiag.testing.rig import Rig, load_scenario
from tests import proxy_rig
from tests.conftest import FIXTURES, run_cli


@pytest.fixture(scope="module")
def rig() -> Iterator[Rig]:
    with Rig(load_scenario(FIXTURES / "scenarios" / "tester.toml")) as running:
        yield running


@pytest.fixture(scope="module")
def proxies(rig: Rig, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    absent = proxy_rig.missing()
    if absent:
        packages = "apt-get install microsocks dante-server tinyproxy"
        message = f"--proxy tests need {', '.join(absent)} ({packages})"
        if proxy_rig.REQUIRED:
            pytest.fail(message + " (SMTPDIAG_REQUIRE_PROXIES=1)")
        pytest.skip(message)
    tmp = tmp_path_factory.mktemp("proxies")
    ports = [proxy_rig.free_port() for _ in range(7)]
    urls = {
        "socks5": f"socks5://127.0.0.1:{ports[0]}",
        "socks5-auth": f"socks5://probe:s3cret@127.0.0.1:{ports[1]}",
        "socks-dante": f"127.0.0.1:{ports[2]}",
        "http": f"http://127.0.0.1:{ports[3]}",
        "http-443": f"http://127.0.0.1:{ports[4]}",
        "http-auth": f"http://probe:s3cret@127.0.0.1:{ports[5]}",
        "socks5-egress": f"socks5://127.0.0.1:{ports[6]}",
    }
    with (
        proxy_rig.microsocks(ports[0]),
        proxy_rig.microsocks(ports[1], "probe", "s3cret"),
        proxy_rig.dante(ports[2], tmp, block_ports=(rig.smtp_port + 0,)) as dante,
        proxy_rig.tinyproxy(ports[3], tmp),
        proxy_rig.tinyproxy(ports[4], tmp, connect_ports=(443,)),
        proxy_rig.tinyproxy(ports[5], tmp, auth=("probe", "s3cret")),
        proxy_rig.microsocks(ports[6], bind="127.0.0.9"),
    ):
        assert dante is not None
        yield urls


@pytest.fixture(scope="module")
def open_dante(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Dante allowing every port (the other one refuses the rig's port by rule)."""
    if proxy_rig.missing():
        pytest.skip("Dante is not installed")
    port = proxy_rig.free_port()
    with proxy_rig.dante(port, tmp_path_factory.mktemp("dante")):
        yield f"127.0.0.1:{port}"


def probe(rig: Rig, address: str, *extra: str) -> tuple[int, dict[str, Any]]:
    result = run_cli(
        [
            "probe",
            "--resolver",
            rig.resolver,
            "--port",
            str(rig.smtp_port),
            "--helo",
            "probe.tester.test",
            "--timeout",
            "5",
            "--format",
            "json",
            *extra,
            address,
        ]
    )
    return result.exit_code, json.loads(result.output)


def test_socks5_carries_the_session_and_the_transcript_shows_the_route(
    rig: Rig, proxies: dict[str, str]
) -> None:
    code, doc = probe(rig, "alice@ok.tester.test", "--proxy", proxies["socks5"])
    assert (code, doc["verdict"]) == (0, "accept-all")
    attempt = doc["attempts"][0]
    assert attempt["route"] == proxies["socks5"]
    assert attempt["local_address"] is None  # ours is the proxy's business
    assert [s["stage"] for s in attempt["steps"]][:3] == ["banner", "ehlo", "starttls"]
    assert attempt["tls"] is not None and attempt["tls"]["version"].startswith("TLS")


def test_socks5_with_a_user_and_password(rig: Rig, proxies: dict[str, str]) -> None:
    code, doc = probe(rig, "alice@ok.tester.test", "--proxy", proxies["socks5-auth"])
    assert (code, doc["verdict"]) == (0, "accept-all")
    assert doc["attempts"][0]["route"] == proxies["socks5-auth"].replace("s3cret", "***")
    assert "s3cret" not in json.dumps(doc)


def test_a_wrong_proxy_password_is_the_proxys_failure(rig: Rig, proxies: dict[str, str]) -> None:
    bad = proxies["socks5-auth"].replace("s3cret", "wrong")
    code, doc = probe(rig, "alice@ok.tester.test", "--proxy", bad)
    assert (code, doc["verdict"], doc["blocked_side"]) == (4, "unknown", "tester")
    attempt = doc["attempts"][0]
    assert attempt["error_kind"] == "proxy"
    assert "authentication failed" in attempt["error"]
    assert "did not get through the proxy" in doc["summary"]
    assert "wrong" not in json.dumps(doc)


def test_socks5h_lets_the_proxy_resolve_the_mx_name(rig: Rig, proxies: dict[str, str]) -> None:
    url = proxies["socks5"].replace("socks5://", "socks5h://")
    code, doc = probe(rig, "alice@local.tester.test", "--proxy", url)
    assert (code, doc["verdict"]) == (0, "accept-all")
    assert doc["attempts"][0]["host"] == "localhost"


def test_socks4_through_dante(rig: Rig, open_dante: str) -> None:
    code, doc = probe(rig, "alice@ok.tester.test", "--proxy", f"socks4://{open_dante}")
    assert (code, doc["verdict"]) == (0, "accept-all")
    assert doc["attempts"][0]["route"] == f"socks4://{open_dante}"


def test_a_proxy_whose_rules_refuse_the_port(rig: Rig, proxies: dict[str, str]) -> None:
    code, doc = probe(rig, "alice@ok.tester.test", "--proxy", "socks5://" + proxies["socks-dante"])
    assert (code, doc["verdict"], doc["blocked_side"]) == (4, "unknown", "tester")
    error = doc["attempts"][0]["error"]
    assert "the proxy does not allow this connection" in error
    assert doc["attempts"][0]["error_kind"] == "proxy"


def test_http_connect(rig: Rig, proxies: dict[str, str]) -> None:
    code, doc = probe(rig, "alice@ok.tester.test", "--proxy", proxies["http"])
    assert (code, doc["verdict"]) == (0, "accept-all")
    code, doc = probe(rig, "alice@ok.tester.test", "--proxy", proxies["http-auth"])
    assert (code, doc["verdict"]) == (0, "accept-all")


def test_an_http_proxy_that_allows_only_443(rig: Rig, proxies: dict[str, str]) -> None:
    code, doc = probe(rig, "alice@ok.tester.test", "--proxy", proxies["http-443"])
    assert (code, doc["verdict"], doc["blocked_side"]) == (4, "unknown", "tester")
    error = doc["attempts"][0]["error"]
    assert f"does not allow CONNECT to port {rig.smtp_port} (HTTP 403)" in error


def test_an_http_proxy_wanting_credentials(rig: Rig, proxies: dict[str, str]) -> None:
    url = proxies["http-auth"].replace("probe:s3cret@", "")
    code, doc = probe(rig, "alice@ok.tester.test", "--proxy", url)
    assert (code, doc["blocked_side"]) == (4, "tester")
    assert "HTTP 407" in doc["attempts"][0]["error"]


def test_a_proxy_that_is_not_running(rig: Rig) -> None:
    port = proxy_rig.free_port()
    code, doc = probe(rig, "alice@ok.tester.test", "--proxy", f"socks5://127.0.0.1:{port}")
    assert (code, doc["verdict"], doc["blocked_side"]) == (4, "unknown", "tester")
    assert "could not connect to proxy" in doc["attempts"][0]["error"]
    assert "Connection refused" in doc["attempts"][0]["error"]


def test_a_server_refusing_behind_the_proxy_is_the_servers(
    rig: Rig, proxies: dict[str, str]
) -> None:
    # the mailbox refusal still reads as the mailbox's, through the proxy
    code, doc = probe(rig, "alice@mailbox.tester.test", "--proxy", proxies["socks5"])
    assert (code, doc["verdict"], doc["blocked_side"]) == (1, "undeliverable", "recipient")


def test_the_server_sees_the_proxys_address(rig: Rig, proxies: dict[str, str]) -> None:
    # microsocks -b 127.0.0.9: its egress address, which the refusal quotes; that is the
    # address the checks are about, not ours (we only know our way to the proxy)
    code, doc = probe(rig, "alice@blocked.tester.test", "--proxy", proxies["socks5-egress"])
    assert doc["attempts"][0]["route"] == proxies["socks5-egress"]
    assert doc["client"]["local_ip"] is None
    assert (doc["client"]["seen_ip"], doc["client"]["seen_from"]) == ("127.0.0.9", "reply")
    assert doc["auth"]["ip"] == "127.0.0.9"
    assert (code, doc["verdict"], doc["blocked_side"]) == (4, "unknown", "tester")


def test_the_proxy_from_the_environment(rig: Rig, proxies: dict[str, str], tmp_path: Path) -> None:
    env = {**os.environ, "SMTPDIAG_PROXY": proxies["socks5"]}
    cmd = [sys.executable, "-m", "smtpdiag", "probe", "--resolver", rig.resolver, "--port",
           str(rig.smtp_port), "--helo", "probe.tester.test", "--format", "json",
           "alice@ok.tester.test"]  # fmt: skip
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=60)
    assert json.loads(out.stdout)["attempts"][0]["route"] == proxies["socks5"]


def test_a_list_through_the_proxy(rig: Rig, proxies: dict[str, str]) -> None:
    result = run_cli(
        ["probe", "--resolver", rig.resolver, "--port", str(rig.smtp_port), "--helo",
         "probe.tester.test", "--format", "jsonl", "--no-progress", "--proxy", proxies["http"],
         "a@ok.tester.test", "b@ok.tester.test", "c@mailbox.tester.test"],
    )  # fmt: skip
    docs = [json.loads(line) for line in result.output.splitlines() if line.startswith("{")]
    assert sorted((d["address"], d["verdict"]) for d in docs) == [
        ("a@ok.tester.test", "accept-all"),
        ("b@ok.tester.test", "accept-all"),
        ("c@mailbox.tester.test", "undeliverable"),
    ]
    assert {a["route"] for d in docs for a in d["attempts"]} == {proxies["http"]}


def test_proxy_urls() -> None:
    p = parse_proxy("socks5h://me:p%40ss@proxy.example:1080")
    assert (p.scheme, p.host, p.port, p.username, p.password) == (
        "socks5h", "proxy.example", 1080, "me", "p@ss"
    )  # fmt: skip
    assert p.remote_dns and p.shown == "socks5h://me:***@proxy.example:1080"
    assert parse_proxy("http://[::1]:3128").shown == "http://[::1]:3128"
    assert parse_proxy("socks5://127.0.0.1").port == 1080
    assert not parse_proxy("http://proxy:3128").remote_dns  # CONNECT gets the IP we resolved


@pytest.fixture(scope="module")
def garbage_proxy() -> Iterator[int]:
    """Not a proxy: answers anything with a line of junk, then closes."""
    import socket
    import threading

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    stop = threading.Event()

    def serve() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                continue
            with conn:
                conn.settimeout(1)
                try:
                    conn.recv(1024)
                    conn.sendall(b"\x05\xffjunk junk\r\n\r\n")
                except OSError:
                    pass

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield int(listener.getsockname()[1])
    stop.set()
    thread.join(2)
    listener.close()


@pytest.mark.parametrize("scheme", ["socks5", "socks4", "http"])
def test_a_garbled_proxy_is_a_clean_error(rig: Rig, garbage_proxy: int, scheme: str) -> None:
    code, doc = probe(
        rig, "alice@ok.tester.test", "--proxy", f"{scheme}://127.0.0.1:{garbage_proxy}"
    )
    assert (code, doc["verdict"], doc["blocked_side"]) == (4, "unknown", "tester")
    assert doc["attempts"][0]["error_kind"] == "proxy"
    assert f"proxy {scheme}://127.0.0.1:{garbage_proxy}" in doc["attempts"][0]["error"]


@pytest.mark.parametrize("scheme", ["socks5", "http"])
def test_a_proxy_name_that_does_not_resolve(rig: Rig, scheme: str) -> None:
    code, doc = probe(rig, "alice@ok.tester.test", "--proxy", f"{scheme}://proxy.invalid:1080")
    assert (code, doc["blocked_side"]) == (4, "tester")
    assert "its name 'proxy.invalid' does not resolve" in doc["attempts"][0]["error"]


def test_a_socks5_proxy_wanting_credentials(rig: Rig, proxies: dict[str, str]) -> None:
    url = proxies["socks5-auth"].replace("probe:s3cret@", "")
    code, doc = probe(rig, "alice@ok.tester.test", "--proxy", url)
    assert (code, doc["blocked_side"]) == (4, "tester")
    assert "the proxy wants a user name and password" in doc["attempts"][0]["error"]
