"""How fast the web app is for the two people it serves (issue 16 point 7), in real headless Chromium on the lab.

    COUNSELKIT_VAULT_PASSWORD_FILE=... .venv/bin/python bench/webapp_timings.py --file SITE/tenants.yaml \
        --host node3 [--tenant awo-kiel] [--runs 5]

The tenants file is a deployed lab site's (the example deployed onto a lab host, as tests/lab/conftest.py
example_site does, naming the host's lab address); its secrets store gives the internal CA the browser trusts. Each run uses fresh browser contexts
(empty HTTP cache and storage: a first visit) and measures, on the control machine's clock:

- first render: from navigation to the browser's first contentful paint (Paint Timing API), and to the landing
  page being usable (the registration button visible: the bundle loaded, the crypto wasm compiled, the centre's
  config read);
- enquiry visible to the counsellor: from the help-seeker's click on "Nachricht senden" to the enquiry in the
  logged-in counsellor's queue (the queue is polled: the poll interval is part of the figure);
- answer visible to the help-seeker: from the counsellor's click on "Senden" to the decrypted answer on the
  help-seeker's page (a Matrix /sync push, no polling).

Prints each run and the median, min and max of each figure. A counsellor account is made once with
`counselkit counsellor add` (the lab's path) and deactivated at the end (it takes no seat afterwards); each run
registers a new help-seeker and deletes that account again in the app ("Mein Konto löschen").
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from counselkit.lab import load_state  # noqa: E402
from tests.browser.harness import chromium, lab_chromium_args  # noqa: E402
from tests.lab.test_site_counselling_lab import Deployed  # noqa: E402
from tests.lab.test_site_webapp_lab import counsellor_login, person, register  # noqa: E402

FIGURES = ("first contentful paint", "landing usable", "enquiry visible to counsellor",
           "answer visible to help-seeker")
FIRST_PAINT = """() => new Promise(resolve => {
  const done = () => {
    const paint = performance.getEntriesByName('first-contentful-paint')[0];
    if (paint) resolve(paint.startTime); else setTimeout(done, 50);
  };
  done();
})"""


def site_of(tenants: Path, host_name: str) -> dict[str, Any]:
    state = load_state()
    if state is None:
        raise SystemExit("the lab is not up (counselkit lab up)")
    host = next((h for h in state.hosts if h.name == host_name), None)
    if host is None:
        raise SystemExit(f"no lab host {host_name}")
    password = os.environ.get("COUNSELKIT_VAULT_PASSWORD_FILE")
    if not password:
        raise SystemExit("set COUNSELKIT_VAULT_PASSWORD_FILE to the site's vault password file")
    return {"host": host, "tenants": tenants, "env": {"COUNSELKIT_VAULT_PASSWORD_FILE": password}}


def lab_tenant(tenants: Path, host_name: str, slug: str, directory: Path) -> tuple[Any, Any]:
    """The deployed site (its plan and CA file in `directory`) and the tenant; refuses a tenants file whose host
    address is not the lab host's, so a bench never reaches for an address outside the lab."""
    site = Deployed(site_of(tenants.resolve(), host_name), directory)
    entry = site.plan.tenant(slug)
    planned = site.plan.host(entry.host).address
    if planned != site.host.address:
        raise SystemExit(f"{tenants}: host {entry.host} has address {planned}, the lab host {site.host.name} is "
                         f"{site.host.address}: name the lab address in the tenants file (as tests/lab/conftest.py "
                         "example_deploys does)")
    return site, entry


def one_run(browser: Any, url: str, counsellor: tuple[str, str], keys: dict[str, str]) -> dict[str, float]:
    """One run; `keys` holds the counsellor's recovery key after the first login (each later login asks for it)."""
    figures: dict[str, float] = {}
    counsellor_ctx, seeker_ctx = person(browser), person(browser)
    try:
        c_page = counsellor_ctx.new_page()
        keys["recovery"] = counsellor_login(c_page, url, *counsellor, recovery_key=keys.get("recovery"))

        seeker = seeker_ctx.new_page()
        started = time.monotonic()
        seeker.goto(url)
        seeker.get_by_role("button", name="Jetzt anonym registrieren").wait_for()
        figures["landing usable"] = time.monotonic() - started
        figures["first contentful paint"] = seeker.evaluate(FIRST_PAINT) / 1000
        register(seeker, url)

        text = f"Bench {time.time_ns()}"
        seeker.get_by_label("Ihre Nachricht an die Beratung").fill(text)
        sent = time.monotonic()
        seeker.get_by_role("button", name="Nachricht senden").click()
        seeker.get_by_role("heading", name="Ihr Gespräch").wait_for()
        room = seeker.locator("section.conversation").get_attribute("data-room")
        enquiry = c_page.locator(f'#open-enquiries li[data-room="{room}"]')
        enquiry.wait_for()
        figures["enquiry visible to counsellor"] = time.monotonic() - sent

        enquiry.get_by_role("button", name="Annehmen").click()
        c_page.locator(".message .body", has_text=text).wait_for()
        answer = f"Antwort {time.time_ns()}"
        c_page.get_by_label("Ihre Nachricht").fill(answer)
        answered = time.monotonic()
        c_page.get_by_role("button", name="Senden").click()
        seeker.locator(".message:not(.mine) .body", has_text=answer).wait_for()
        figures["answer visible to help-seeker"] = time.monotonic() - answered

        seeker.get_by_role("button", name="Mein Konto löschen").click()
        seeker.get_by_role("button", name="Ja, Konto endgültig löschen").click()
        seeker.get_by_text("Ihr Konto ist gelöscht.").wait_for()
    finally:
        counsellor_ctx.close()
        seeker_ctx.close()
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--file", type=Path, required=True, help="the deployed site's tenants.yaml")
    parser.add_argument("--host", required=True, help="the lab host it is deployed on (e.g. node3)")
    parser.add_argument("--tenant", default="awo-kiel")
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()

    import tempfile

    rows: list[dict[str, float]] = []
    with tempfile.TemporaryDirectory() as directory:
        site, entry = lab_tenant(args.file, args.host, args.tenant, Path(directory))
        counsellor = site.add_counsellor(args.tenant, prefix="bench.c")
        try:
            with chromium(lab_chromium_args({entry.domain: site.plan.host(entry.host).address},
                                            site.site.ca_file)) as browser:
                keys: dict[str, str] = {}
                for number in range(1, args.runs + 1):
                    rows.append(one_run(browser, f"https://{entry.domain}/", counsellor, keys))
                    print(f"run {number}: " + ", ".join(f"{name} {rows[-1][name]:.2f} s" for name in FIGURES),
                          flush=True)
        finally:
            site.deactivate(args.tenant, [counsellor[0]])
    print(f"\n{args.tenant} on {args.host}, {args.runs} runs, fresh browser contexts (first visit each)")
    print(f"{'figure':<34}{'median':>9}{'min':>9}{'max':>9}")
    for name in FIGURES:
        values = [row[name] for row in rows]
        print(f"{name:<34}{statistics.median(values):>8.2f}s{min(values):>8.2f}s{max(values):>8.2f}s")


if __name__ == "__main__":
    main()
