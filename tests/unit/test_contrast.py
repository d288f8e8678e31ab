"""WCAG AA contrast of brand colours: known ratios, and `validate` warns (exit 0) with file, line and field."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from counselkit.cli import cli
from counselkit.model.contrast import contrast_ratio, relative_luminance
from tests.support import example_data, write_yaml


@pytest.mark.parametrize(("first", "second", "ratio"), [
    ("#000000", "#ffffff", 21.0),
    ("#ffffff", "#ffffff", 1.0),
    ("#777777", "#ffffff", 4.478),  # the classic near miss: looks fine, fails AA
    ("#767676", "#ffffff", 4.542),  # the lightest grey that passes on white
    ("#ffffff", "#00519e", 7.863),  # the default primary colour, symmetric
    ("#e2001a", "#fdf2f3", 4.512),
    ("#ff0000", "#ffffff", 3.998),
])
def test_known_contrast_ratios(first: str, second: str, ratio: float) -> None:
    assert contrast_ratio(first, second) == pytest.approx(ratio, abs=0.001)
    assert contrast_ratio(second, first) == contrast_ratio(first, second)


def test_luminance_ends() -> None:
    assert relative_luminance("#000000") == 0.0 and relative_luminance("#ffffff") == pytest.approx(1.0)


def validate(tmp_path: Path, **branding: str) -> tuple[int, list[str]]:
    data = example_data()
    data["tenants"][1]["branding"].update(branding)
    path = write_yaml(tmp_path / "tenants.yaml", data)
    result = CliRunner().invoke(cli, ["validate", str(path)])
    assert result.stdout.startswith(f"{path}: valid"), result.output
    return result.exit_code, [line for line in result.stderr.splitlines() if line]


def test_example_colours_pass_without_warning(tmp_path: Path) -> None:
    assert validate(tmp_path) == (0, [])


def test_light_primary_warns_for_buttons_and_links_but_validates(tmp_path: Path) -> None:
    code, lines = validate(tmp_path, primary_color="#777777")
    assert code == 0 and len(lines) == 2
    assert all(": tenants[1].branding.primary_color: warning: " in line for line in lines)
    assert any("#ffffff on #777777 (white text on buttons and header) has a contrast of 4.48:1" in x for x in lines)
    assert any("#777777 on #f5f7fa (links on the page background" in x for x in lines)
    line_number = int(lines[0].split(":")[1])
    text = (tmp_path / "tenants.yaml").read_text(encoding="utf-8").splitlines()
    assert "primary_color" in text[line_number - 1]  # the warning points at the colour's own line


def test_dark_background_warns_for_body_text(tmp_path: Path) -> None:
    code, lines = validate(tmp_path, primary_color="#ffff00", secondary_color="#333333")
    fields = [line.split(": ")[1] for line in lines]
    assert code == 0 and fields == ["tenants[1].branding.primary_color", "tenants[1].branding.secondary_color"]
    assert "#ffffff on #ffff00" in lines[0] and "#1d1d1f on #333333" in lines[1]
