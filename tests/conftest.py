"""Options shared by all test suites."""

import pytest


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--reuse-lab",
        action="store_true",
        default=False,
        help="Use a lab that is already up and leave it up at the end (see docs/lab.md).",
    )
