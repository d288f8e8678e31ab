"""Pure parts of the lab (no root, no lab): recipe hash and address scheme."""

from __future__ import annotations

import pytest

from counselkit.lab import addresses, image, settings


def test_recipe_hash_is_stable_across_processes() -> None:
    """The cache is found again by a later run (another process, another hash seed, another working directory):
    the hash depends on the recipe only."""
    import subprocess
    import sys

    from tests.support import REPO

    others = {subprocess.run([sys.executable, "-c", "from counselkit.lab import image; print(image.recipe_hash())"],
                             cwd=cwd, env={"PYTHONPATH": str(REPO), "PYTHONHASHSEED": seed, "PATH": "/usr/bin:/bin"},
                             capture_output=True, text=True, check=True).stdout.strip()
              for seed, cwd in (("1", "/"), ("2", "/tmp"))}
    assert others == {image.recipe_hash()}


@pytest.mark.parametrize("change", ["packages", "setup", "ca"])
def test_recipe_hash_changes_with_the_recipe(change: str, monkeypatch, tmp_path) -> None:
    before = image.recipe_hash()
    if change == "packages":
        monkeypatch.setattr(settings, "IMAGE_PACKAGES", (*settings.IMAGE_PACKAGES, "curl"))
    elif change == "setup":
        monkeypatch.setattr(image, "IMAGE_SETUP_SCRIPT", image.IMAGE_SETUP_SCRIPT + "true\n")
    else:
        (tmp_path / "extra.crt").write_text("-----BEGIN CERTIFICATE-----\n")
        monkeypatch.setattr(settings, "CONTROL_CA_DIR", tmp_path)
    assert image.recipe_hash() != before


def test_image_lives_under_the_cache_named_by_its_hash() -> None:
    assert image.image_root() == settings.IMAGE_CACHE_DIR / image.recipe_hash() / "root"


def test_address_scheme() -> None:
    assert addresses.host_name(2) == "node2"
    assert addresses.host_index("node12") == 12
    assert addresses.host_address(1) == "10.248.1.2"
    assert addresses.control_address(3) == "10.248.3.1"
    assert addresses.netns_name("node1") == "ck-node1"
    assert len(addresses.veth_name(addresses.host_name(settings.MAX_HOSTS))) <= 15  # IFNAMSIZ - 1
    assert addresses.proxy_url() == "http://10.248.0.1:8888"
    with pytest.raises(ValueError):
        addresses.host_index("web1")


def test_service_address_is_not_a_host_link() -> None:
    links = {addresses.control_address(i) for i in range(1, settings.MAX_HOSTS + 1)}
    links |= {addresses.host_address(i) for i in range(1, settings.MAX_HOSTS + 1)}
    assert settings.SERVICE_ADDRESS not in links
