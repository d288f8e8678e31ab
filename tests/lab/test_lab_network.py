"""Lab hosts have no route out; apt and pip work through the lab proxy only.

What the apt and pip tests install is removed again (`installs` fixture): they run on the bare host (node2) too,
which must stay the bare image for the audit whatever order the tests run in.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from counselkit.lab import LabHost, LabState, ssh

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


def installed_packages(host: LabHost) -> set[str]:
    listed = ssh.run(host, "dpkg-query -W -f='${db:Status-Abbrev} ${Package}\\n'", timeout=120)
    assert listed.returncode == 0, listed.stderr
    return {line.split()[-1] for line in listed.stdout.splitlines() if line.startswith("ii")}


def purge_added(host: LabHost, before: set[str]) -> list[str]:
    """Purge every package the host has now but did not have in `before` (what a test pulled in, dependencies
    included); returns them."""
    added = sorted(installed_packages(host) - before)
    if added:
        purged = ssh.run(host, "DEBIAN_FRONTEND=noninteractive apt-get -q -y purge " + " ".join(added), timeout=600)
        assert purged.returncode == 0, purged.stderr
    return added


@pytest.fixture
def installs(lab: LabState, lab_host: LabHost, run_on) -> Iterator[Callable[[str], None]]:
    """installs("pkg ...") through the proxy; afterwards the packages the test added (with their dependencies) are
    purged and /root/ck-venv removed, so the host has the packages it had before."""
    before = installed_packages(lab_host)

    def install(packages: str) -> None:
        run_on(lab_host, _apt(lab, "update"))
        run_on(lab_host, _apt(lab, f"install -y --no-install-recommends {packages}"))

    yield install
    purge_added(lab_host, before)
    run_on(lab_host, "rm -rf /root/ck-venv")
    assert installed_packages(lab_host) == before, f"{lab_host.name} keeps packages a test installed"


def test_apt_installs_through_the_proxy(lab: LabState, lab_host: LabHost, run_on, installs) -> None:
    assert lab.proxy_url
    installs("hello")
    assert "Hello, world!" in run_on(lab_host, "hello")


def test_pip_installs_through_the_proxy(lab: LabState, lab_host: LabHost, run_on, installs) -> None:
    installs("python3-venv")
    run_on(lab_host, "rm -rf /root/ck-venv && python3 -m venv /root/ck-venv")
    # HTTPS through the proxy: only verifies because the control CA trust is in the image.
    run_on(lab_host, f"/root/ck-venv/bin/pip install -q --no-cache-dir --proxy {lab.proxy_url} six")
    assert run_on(lab_host, "/root/ck-venv/bin/python -c 'import six; print(six.__name__)'").strip() == "six"
