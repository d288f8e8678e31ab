"""Lab hosts have no route out; apt and pip work through the lab proxy only."""

from __future__ import annotations

import pytest

from counselkit.lab import LabHost, LabState

pytestmark = pytest.mark.lab

# TEST-NET-3 (RFC 5737): never routed anywhere. A host without a route fails
# locally with ENETUNREACH, so no packet leaves the namespace.
OUTSIDE_ADDRESS = "203.0.113.10"


def _apt(lab: LabState, args: str) -> str:
    return (f"DEBIAN_FRONTEND=noninteractive apt-get -q -o Acquire::http::Proxy={lab.proxy_url} "
            f"-o Acquire::https::Proxy={lab.proxy_url} {args}")


def test_host_has_no_default_route(lab_host: LabHost, run_on) -> None:
    assert run_on(lab_host, "ip -4 route show default; ip -6 route show default").strip() == ""
    routes = run_on(lab_host, "ip -4 route show").splitlines()
    assert all("10.248." in route for route in routes), routes


def test_host_cannot_connect_out_without_the_proxy(lab_host: LabHost, run_on) -> None:
    probe = (
        "import errno, socket\n"
        "try:\n"
        f"    socket.create_connection(('{OUTSIDE_ADDRESS}', 80), timeout=5)\n"
        "    print('connected')\n"
        "except OSError as exc:\n"
        "    print(errno.errorcode.get(exc.errno, exc))\n"
        "import urllib.request\n"
        "opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))\n"
        "try:\n"
        "    opener.open('http://deb.debian.org/debian/', timeout=10)\n"
        "    print('fetched')\n"
        "except OSError as exc:\n"
        "    print('no-fetch')\n"
    )
    out = run_on(lab_host, f"python3 - <<'EOF'\n{probe}EOF").split()
    assert out == ["ENETUNREACH", "no-fetch"]


def test_apt_installs_through_the_proxy(lab: LabState, lab_host: LabHost, run_on) -> None:
    assert lab.proxy_url
    run_on(lab_host, _apt(lab, "update"))
    run_on(lab_host, _apt(lab, "install -y --no-install-recommends hello"))
    assert "Hello, world!" in run_on(lab_host, "hello")


def test_pip_installs_through_the_proxy(lab: LabState, lab_host: LabHost, run_on) -> None:
    run_on(lab_host, _apt(lab, "update"))
    run_on(lab_host, _apt(lab, "install -y --no-install-recommends python3-venv"))
    run_on(lab_host, "rm -rf /root/ck-venv && python3 -m venv /root/ck-venv")
    # HTTPS through the proxy: only verifies because the control CA trust is in the image.
    run_on(lab_host, f"/root/ck-venv/bin/pip install -q --no-cache-dir --proxy {lab.proxy_url} six")
    assert run_on(lab_host, "/root/ck-venv/bin/python -c 'import six; print(six.__name__)'").strip() == "six"
