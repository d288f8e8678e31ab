"""`counselkit webapp build`: the same inputs give the same bundle, the stamp follows the inputs, and a deploy
without a bundle stops before copying anything (docs/webapp.md)."""

from __future__ import annotations

import gzip
import shutil
from pathlib import Path

import pytest

from counselkit import layout
from counselkit.webapp import build


def test_the_bundle_is_the_same_bytes_every_time_and_its_gzip_is_the_same_file(tmp_path: Path) -> None:
    build.install()  # npm ci unless webapp/node_modules holds exactly the lockfile
    first, second = tmp_path / "a", tmp_path / "b"
    build.bundle(first)
    build.bundle(second)
    names = sorted(p.name for p in first.iterdir())
    assert names == sorted([*layout.WEBAPP_BUNDLE, *layout.WEBAPP_PRECOMPRESSED, build.BUILD_STAMP])
    for name in names:
        assert (first / name).read_bytes() == (second / name).read_bytes(), name
    for name, packed in zip(layout.WEBAPP_BUNDLE, layout.WEBAPP_PRECOMPRESSED):
        assert gzip.decompress((first / packed).read_bytes()) == (first / name).read_bytes()
    assert (first / "crypto.wasm").read_bytes()[:4] == b"\0asm"
    assert build.is_current(first) and build.ensure_built(first) is False  # nothing to do: not rebuilt


def test_the_stamp_follows_every_input(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    source = tmp_path / "webapp"
    shutil.copytree(build.SOURCE / "src", source / "src")
    for name in ("package.json", "package-lock.json"):
        shutil.copyfile(build.SOURCE / name, source / name)
    monkeypatch.setattr(build, "SOURCE", source)
    monkeypatch.setattr(build, "LOCKFILE", source / "package-lock.json")
    before = build.inputs_hash()
    for changed in (source / "src" / "main.js", source / "package-lock.json", source / "src" / "app.css"):
        original = changed.read_bytes()
        changed.write_bytes(original + b"\n")
        assert build.inputs_hash() != before, changed.name
        changed.write_bytes(original)
        assert build.inputs_hash() == before


def test_a_deploy_without_the_bundle_stops_before_copying(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from deploy import nginx as deploy_nginx

    copied: list[str] = []
    monkeypatch.setattr(deploy_nginx.files, "put", lambda **kw: copied.append(kw["dest"]))
    present = tmp_path / "app.js"
    present.write_text("x")
    entries = [{"tenant": "awo-kiel", "src": str(present), "dest": "/var/www/x/app.js", "mode": "0644"},
               {"tenant": "awo-kiel", "src": str(tmp_path / "crypto.wasm"), "dest": "/var/www/x/crypto.wasm",
                "mode": "0644"}]
    with pytest.raises(deploy_nginx.DeployError, match=r"crypto\.wasm\).*run `counselkit webapp build`"):
        deploy_nginx._webapp_bundle(entries)
    assert copied == []
