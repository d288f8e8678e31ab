"""deploy/runner.py reads pyinfra's results table: the idempotence tests ("a second run changes nothing") are only
as good as this parser, so it is checked on real tables, captured from a first and a second example deploy."""

from __future__ import annotations

from pathlib import Path

from deploy.runner import parse_changes

DATA = Path(__file__).parent / "data" / "pyinfra"


def grand_total(text: str) -> tuple[int, str]:
    words = next(line for line in text.splitlines() if line.split()[:2] == ["Grand", "total"]).split()
    return int(words[2]), words[3]


def test_a_first_run_is_read_as_many_changes():
    text = (DATA / "first_run_results.txt").read_text()
    changed = parse_changes(text)
    hosts, success = grand_total(text)
    assert sum(n for _, n in changed) == int(success) == 167
    assert ("counselkit: file integrity baseline | First AIDE database (background, idle priority)", 1) in changed
    assert all(not name.startswith(("Operation", "Grand")) for name, _ in changed)


def test_a_second_run_is_read_as_no_change():
    text = (DATA / "second_run_results.txt").read_text()
    assert grand_total(text) == (181, "-")
    assert parse_changes(text) == []


def test_colour_codes_and_rows_outside_the_table_are_ignored():
    text = (DATA / "first_run_results.txt").read_text()
    coloured = "\x1b[32m" + text.replace(" 1       1 ", " 1       \x1b[1m1\x1b[0m ", 1)
    before = "    Some log line   1   1   -   -\n"  # looks like a row, but comes before the table header
    assert parse_changes(before + coloured) == parse_changes(text)


def test_output_without_a_results_table_is_an_error_not_no_change():
    """The parser's failure mode: output it cannot read raises, so "second run changes nothing" cannot pass on it."""
    import pytest

    from deploy.runner import ResultsTableMissing

    text = (DATA / "first_run_results.txt").read_text()
    header = next(line for line in text.splitlines() if "Operation" in line and "Success" in line)
    cut = text[:text.index("Grand total")]
    for broken in ("", "--> Connecting to hosts...\n    [node1] Connected\n", cut,
                   text.replace(header, header.replace("Success", "Changed"))):
        with pytest.raises(ResultsTableMissing):
            parse_changes(broken)
