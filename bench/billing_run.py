"""Time `billing run` for many tenants: python bench/billing_run.py [N] (default 200).

Always against the official rules (XSD, EN 16931 and XRechnung Schematron, found as counselkit.billing.validate
finds them: ../shared/einvoice beside the checkout): an XSD-only run would time a fraction of the work. Without
the rules the bench stops and says where it looked."""

from __future__ import annotations

import sys
import tempfile
import time
from datetime import date
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from counselkit.billing.period import Period  # noqa: E402
from counselkit.billing.run import run_period  # noqa: E402
from counselkit.billing.validate import RULES_MISSING, Validator, rules_available, rules_candidates  # noqa: E402


def inventory(n: int) -> str:
    text = (REPO / "tenants.yaml").read_text(encoding="utf-8")
    head = text[: text.index("\ntenants:")].replace("capacity_tenants: 40", "capacity_tenants: 500")
    tenants = []
    for i in range(n):
        tenants.append(f"""  - slug: centre-{i:04d}
    name: Beratungsstelle {i}
    contract: {{start: 2026-{1 + i % 11:02d}-{1 + i % 28:02d}, plan: lite}}
    seats: {1 + i % 40}
    admins: [{{name: Admin {i}, email: admin{i}@centre{i}.example}}]
    billing:
      address: {{street: Hauptstraße {i}, postcode: "24103", city: Kiel}}
      email: rechnung@centre{i}.example
      buyer_reference: 04-{i:04d}-01
    branding: {{imprint_url: "https://centre{i}.example/impressum", privacy_url: "https://centre{i}.example/datenschutz"}}
""")
    return head + "\ntenants:\n" + "".join(tenants)


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 200
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "tenants.yaml"
        path.write_text(inventory(n), encoding="utf-8")
        if not rules_available():
            sys.exit(f"{RULES_MISSING}: looked in {', '.join(map(str, rules_candidates()))}")
        t0 = time.perf_counter()
        validator = Validator(official=True)
        t1 = time.perf_counter()
        first = run_period(path, Period.parse("2026-11"), issue_date=date(2026, 12, 1), validator=validator)
        t2 = time.perf_counter()
        again = run_period(path, Period.parse("2026-11"), issue_date=date(2026, 12, 1), validator=validator)
        t3 = time.perf_counter()
        print(f"tenants: {n}; rule sets: {', '.join(validator.rule_sets)}")
        print(f"compile rules:           {t1 - t0:6.2f} s")
        print(f"first run  ({len(first.issued)} invoices): {t2 - t1:6.2f} s  ({(t2 - t1) / max(1, len(first.issued)) * 1000:.0f} ms/invoice)")
        print(f"re-run     ({sum(not i.new for i in again.issued)} reproduced): {t3 - t2:6.2f} s")
        total = sum(i.document.gross_total for i in first.issued)
        print(f"gross total: {total} EUR; fatal findings: {sum(len(i.report.fatal) for i in first.issued)}")


if __name__ == "__main__":
    main()
