"""branding: in tenants.yaml: defaults, https-only links, and the logo file checked as hostile input."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from counselkit.load import load_inventory
from counselkit.model.logo import LOGO_MAX_BYTES
from counselkit.problems import InputError, Problem
from tests.support import example_data, png_bytes, write_yaml

CLEAN_SVG = ('<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 10 10"><defs><linearGradient id="g">'
             '<stop offset="0" stop-color="#fff"/></linearGradient></defs>'
             '<rect width="10" height="10" fill="url(#g)"/><use href="#g"/></svg>')


def load_with_branding(tmp_path: Path, branding: dict[str, Any]) -> Any:
    data = example_data()
    data["tenants"][0]["branding"] = branding
    return load_inventory(write_yaml(tmp_path / "tenants.yaml", data))


def problems_with_branding(tmp_path: Path, branding: dict[str, Any]) -> list[Problem]:
    with pytest.raises(InputError) as caught:
        load_with_branding(tmp_path, branding)
    return caught.value.problems


LINKS = {"imprint_url": "https://a.example/impressum", "privacy_url": "https://a.example/datenschutz"}


def test_the_two_links_suffice_and_the_rest_has_defaults(tmp_path: Path) -> None:
    branding = load_with_branding(tmp_path, dict(LINKS)).tenants[0].branding
    assert (branding.display_name, branding.logo, branding.terms_url) == (None, None, None)
    assert branding.primary_color == "#00519e" and branding.secondary_color == "#f5f7fa"


@pytest.mark.parametrize("field", ["imprint_url", "privacy_url", "terms_url"])
def test_links_must_be_https_and_the_error_names_line_and_field(tmp_path: Path, field: str) -> None:
    found = problems_with_branding(tmp_path, {**LINKS, field: "http://a.example/seite"})
    assert len(found) == 1
    problem = found[0]
    assert problem.field == f"tenants[0].branding.{field}" and problem.line > 0
    assert "must start with https://" in problem.message and problem.file.endswith("tenants.yaml")


def test_display_name_is_single_line_text(tmp_path: Path) -> None:
    found = problems_with_branding(tmp_path, {**LINKS, "display_name": "AWO\u202eKiel"})
    assert [p.field for p in found] == ["tenants[0].branding.display_name"]
    assert load_with_branding(tmp_path, {**LINKS, "display_name": "AWO Kiel"}).tenants[0].branding.display_name == "AWO Kiel"


@pytest.mark.parametrize("name", ["/etc/passwd.png", "../logo.png", "logos/../../logo.png", ".hidden/logo.png",
                                  "logos//logo.png", "logo.gif", "logo.png.exe", "lo go.png", "logo"])
def test_logo_names_outside_the_directory_or_of_other_types_are_refused(tmp_path: Path, name: str) -> None:
    site = tmp_path / "site"
    for where in (tmp_path / "logo.png", site / ".hidden" / "logo.png", site / "logos" / "logo.png"):
        where.parent.mkdir(parents=True, exist_ok=True)
        where.write_bytes(png_bytes())  # each name leads to a real PNG: the name alone must be refused
    data = example_data()
    data["tenants"][0]["branding"] = {**LINKS, "logo": name}
    with pytest.raises(InputError) as caught:
        load_inventory(write_yaml(site / "tenants.yaml", data))
    found = caught.value.problems
    assert [p.field for p in found] == ["tenants[0].branding.logo"] and found[0].line > 0
    assert f"'{name}' must be a path relative to the directory" in found[0].message \
        or f"'{name}' is not an accepted logo file name" in found[0].message


def test_logo_symlink_out_of_the_directory_is_refused(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.png").write_bytes(png_bytes())
    inside = tmp_path / "site"
    inside.mkdir()
    (inside / "logo.png").symlink_to(outside / "secret.png")
    data = example_data()
    data["tenants"][0]["branding"] = {**LINKS, "logo": "logo.png"}
    with pytest.raises(InputError) as caught:
        load_inventory(write_yaml(inside / "tenants.yaml", data))
    assert "leads outside the directory" in caught.value.problems[0].message


def svg_problem(tmp_path: Path, svg: str) -> str:
    (tmp_path / "logo.svg").write_text(svg, encoding="utf-8")
    found = problems_with_branding(tmp_path, {**LINKS, "logo": "logo.svg"})
    assert [p.field for p in found] == ["tenants[0].branding.logo"]
    return found[0].message


def test_clean_logos_pass(tmp_path: Path) -> None:
    (tmp_path / "logo.svg").write_text(CLEAN_SVG, encoding="utf-8")
    assert load_with_branding(tmp_path, {**LINKS, "logo": "logo.svg"}).tenants[0].branding.logo == "logo.svg"
    (tmp_path / "logo.png").write_bytes(png_bytes(400, 120))
    assert load_with_branding(tmp_path, {**LINKS, "logo": "logo.png"}).tenants[0].branding.logo == "logo.png"


@pytest.mark.parametrize(("svg", "expected"), [
    ('<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>', "<script>"),
    ('<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>', "event handler"),
    ('<svg xmlns="http://www.w3.org/2000/svg"><foreignObject><p>x</p></foreignObject></svg>', "<foreignobject>"),
    ('<svg xmlns="http://www.w3.org/2000/svg" xmlns:x="http://www.w3.org/1999/xlink">'
     '<use x:href="https://evil.example/a.svg#b"/></svg>', "only references inside the file"),
    ('<svg xmlns="http://www.w3.org/2000/svg"><rect style="fill: url(https://evil.example/t)"/></svg>', "loads other"),
    ('<svg xmlns="http://www.w3.org/2000/svg"><style>@import "https://evil.example/x.css";</style></svg>', "<style>"),
    ('<?xml version="1.0"?><!DOCTYPE svg [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;&a;">]>'
     '<svg xmlns="http://www.w3.org/2000/svg"><text>&b;</text></svg>', "DOCTYPE"),
    ('<html xmlns="http://www.w3.org/1999/xhtml"><body/></html>', "root element is not <svg>"),
    ('<svg xmlns="http://www.w3.org/2000/svg"><rect', "not well-formed XML"),
])
def test_svg_that_could_run_code_or_load_content_is_refused(tmp_path: Path, svg: str, expected: str) -> None:
    assert expected in svg_problem(tmp_path, svg)


@pytest.mark.parametrize(("content", "expected"), [
    (b"GIF89a not a png at all", "is not a PNG image"),
    (png_bytes(5000, 10), "5000x10 pixels"),
    (png_bytes()[:-12] + b"\0" * LOGO_MAX_BYTES, "larger than 256 KiB"),
])
def test_png_must_be_a_png_of_sane_size(tmp_path: Path, content: bytes, expected: str) -> None:
    (tmp_path / "logo.png").write_bytes(content)
    found = problems_with_branding(tmp_path, {**LINKS, "logo": "logo.png"})
    assert [p.field for p in found] == ["tenants[0].branding.logo"] and expected in found[0].message
