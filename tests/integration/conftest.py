"""Fixtures of the local integration tests: restic + PostgreSQL + moto on this machine, loopback only."""

from __future__ import annotations

import shutil
from collections.abc import Iterator

import pytest

from tests.integration.servers import Postgres, moto_server, postgres_cluster, postgres_missing


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    with moto_server() as endpoint:
        yield endpoint


@pytest.fixture(scope="session")
def postgres() -> Iterator[Postgres]:
    reason = postgres_missing()
    if reason:
        pytest.skip(reason)
    with postgres_cluster() as pg:
        yield pg


@pytest.fixture(scope="session")
def restic_binary() -> str:
    path = shutil.which("restic")
    if path is None:
        pytest.skip("restic missing (apt-get install restic)")
    return path
