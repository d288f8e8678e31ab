"""Size of the web app's bundle: what a browser downloads on the first visit (issue 16 point 7).

    .venv/bin/python bench/webapp_bundle.py

Builds the bundle when build/webapp/ is not current (`counselkit webapp build`), then prints each file's bytes raw
and gzipped (gzip -9, what nginx's gzip would send at most; nginx here sends them as they are unless gzip is on).
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from counselkit.webapp.build import OUTPUT, ensure_built, sizes  # noqa: E402


def main() -> None:
    ensure_built()
    total_raw = total_gzip = 0
    print(f"{'file':<14}{'bytes':>12}{'gzip':>12}")
    for name, size in sizes(OUTPUT).items():
        total_raw += size["bytes"]
        total_gzip += size["gzip"]
        print(f"{name:<14}{size['bytes']:>12}{size['gzip']:>12}")
    print(f"{'total':<14}{total_raw:>12}{total_gzip:>12}")


if __name__ == "__main__":
    main()
