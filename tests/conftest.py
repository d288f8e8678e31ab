"""Options shared by all test suites, and the shuffled order's seed at the end of a run."""

import pytest


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--reuse-lab",
        action="store_true",
        default=False,
        help="Use a lab that is already up and leave it up at the end (see docs/lab.md).",
    )


@pytest.hookimpl(trylast=True)  # after the durations table: the last line before the result
def pytest_terminal_summary(terminalreporter, config: pytest.Config) -> None:
    """Repeat the seed of a shuffled run beside the results (the header with it has scrolled away after a lab run),
    as the option that replays the same order (docs/testing.md "Test order")."""
    if not config.pluginmanager.hasplugin("random_order"):
        return
    from random_order.config import Config

    shuffled = Config(config)
    if shuffled.is_enabled:
        terminalreporter.write_line(f"test order: replay with --random-order-bucket={shuffled.bucket_type} "
                                    f"--random-order-seed={shuffled.seed}")
