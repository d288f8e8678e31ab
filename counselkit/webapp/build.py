"""`counselkit webapp build`: the web app's bundle, built on the control machine and copied to hosts as it is.

Inputs: webapp/src/, webapp/package.json and the committed webapp/package-lock.json (npm ci installs exactly it).
Output: build/webapp/ (layout.WEBAPP_BUNDLE: app.js, app.css, crypto.wasm; each also as <name>.gz for nginx's
gzip_static) and a stamp naming the inputs' hash.
The same inputs give the same bytes (esbuild is deterministic; nothing time- or path-dependent goes in), so a
second run changes nothing and every host gets the same files. node_modules stays in webapp/ between runs (git-
ignored) and is reinstalled whenever the lockfile changes; a fresh machine just runs npm ci.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import shutil
import subprocess
from pathlib import Path

import click

from counselkit import layout

REPO = Path(__file__).resolve().parents[2]
SOURCE = REPO / "webapp"
OUTPUT = REPO / "build" / "webapp"
LOCKFILE = SOURCE / "package-lock.json"
NODE_MODULES = SOURCE / "node_modules"
INSTALL_STAMP = NODE_MODULES / ".counselkit-lock-sha256"
BUILD_STAMP = ".inputs-sha256"
ESBUILD = NODE_MODULES / ".bin" / "esbuild"
WASM = NODE_MODULES / "@matrix-org" / "matrix-sdk-crypto-wasm" / "pkg" / "matrix_sdk_crypto_wasm_bg.wasm"
ENTRY = "src/main.js"
STYLES = "src/app.css"
# Browsers of the last years (ES2022: top-level await is not needed, class fields and `at()` are).
TARGET = "es2022"


class BuildError(click.ClickException):
    pass


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def inputs_hash() -> str:
    """What the bundle is made from: the sources, the manifests and the build options."""
    digest = hashlib.sha256()
    files = sorted([*(SOURCE / "src").rglob("*"), SOURCE / "package.json", LOCKFILE])
    for path in files:
        if path.is_file():
            digest.update(path.relative_to(SOURCE).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    digest.update(json.dumps([ENTRY, STYLES, TARGET, layout.WEBAPP_BUNDLE, layout.WEBAPP_PRECOMPRESSED]).encode())
    return digest.hexdigest()


def _run(argv: list[str], what: str) -> None:
    try:
        result = subprocess.run(argv, cwd=SOURCE, capture_output=True, text=True,
                                env={**os.environ, "NO_UPDATE_NOTIFIER": "1", "npm_config_fund": "false",
                                     "npm_config_audit": "false"})
    except FileNotFoundError as exc:
        raise BuildError(f"webapp: {what}: {argv[0]} not found (scripts/counselkit installs Node.js and npm)") from exc
    if result.returncode != 0:
        raise BuildError(f"webapp: {what} failed ({' '.join(argv)}):\n{result.stdout}{result.stderr}")


def install() -> bool:
    """npm ci from the lockfile unless node_modules already holds exactly it. True when it installed."""
    wanted = _sha256(LOCKFILE)
    if INSTALL_STAMP.is_file() and INSTALL_STAMP.read_text().strip() == wanted and ESBUILD.exists():
        return False
    _run(["npm", "ci", "--no-audit", "--no-fund", "--ignore-scripts"], "npm ci")
    INSTALL_STAMP.write_text(wanted + "\n")
    return True


def bundle(output: Path = OUTPUT) -> None:
    """esbuild: one ES module with the SDK and its crypto bindings, the stylesheet, and the crypto's wasm beside."""
    staging = output.with_name(output.name + ".new")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    names = dict(zip(("js", "css", "wasm"), layout.WEBAPP_BUNDLE))
    _run([str(ESBUILD), ENTRY, "--bundle", "--format=esm", "--platform=browser", f"--target={TARGET}", "--minify",
          "--legal-comments=eof", "--log-level=warning", f"--outfile={staging / names['js']}"], "esbuild (app.js)")
    _run([str(ESBUILD), STYLES, "--bundle", "--minify", "--log-level=warning", f"--outfile={staging / names['css']}"],
         "esbuild (app.css)")
    shutil.copyfile(WASM, staging / names["wasm"])
    for name, packed in zip(layout.WEBAPP_BUNDLE, layout.WEBAPP_PRECOMPRESSED):
        (staging / packed).write_bytes(gzip_bytes((staging / name).read_bytes()))
    (staging / BUILD_STAMP).write_text(inputs_hash() + "\n")
    shutil.rmtree(output, ignore_errors=True)
    staging.rename(output)


def gzip_bytes(data: bytes) -> bytes:
    """gzip -9 without a time stamp or file name in the header: the same input gives the same bytes."""
    return gzip.compress(data, compresslevel=9, mtime=0)


def is_current(output: Path = OUTPUT) -> bool:
    stamp = output / BUILD_STAMP
    return stamp.is_file() and stamp.read_text().strip() == inputs_hash() and \
        all((output / name).is_file() for name in layout.WEBAPP_BUNDLE + layout.WEBAPP_PRECOMPRESSED)


def ensure_built(output: Path = OUTPUT) -> bool:
    """Build unless the output already is the bundle of the current inputs. True when it built."""
    if is_current(output):
        return False
    install()
    bundle(output)
    return True


def missing_files(paths: list[str]) -> list[str]:
    """The bundle files a deploy would copy that are not built (checked before anything is copied)."""
    return sorted({p for p in paths if not Path(p).is_file()})


def sizes(output: Path = OUTPUT) -> dict[str, dict[str, int]]:
    """Bytes of each bundle file, raw and gzipped (the .gz beside it: what a browser accepting gzip transfers)."""
    return {name: {"bytes": (output / name).stat().st_size, "gzip": (output / packed).stat().st_size}
            for name, packed in zip(layout.WEBAPP_BUNDLE, layout.WEBAPP_PRECOMPRESSED)}


@click.group("webapp")
def webapp() -> None:
    """The counselling web app's bundle."""


@webapp.command("build")
@click.option("--force", is_flag=True, help="Build even when build/webapp/ is current.")
def build_command(force: bool) -> None:
    """npm ci (from webapp/package-lock.json) and esbuild into build/webapp/."""
    if force:
        install()
        bundle()
        built = True
    else:
        built = ensure_built()
    state = "built" if built else "up to date"
    listing = ", ".join(f"{name} {s['bytes']} B ({s['gzip']} B gzip)" for name, s in sizes().items())
    click.echo(f"webapp: {state} in {OUTPUT.relative_to(REPO)}: {listing}")
