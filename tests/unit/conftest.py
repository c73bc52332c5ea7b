"""Fixtures of the unit tests: one HPC API stand-in per test module, reset per test."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest

from core.hpc_api import HpcApi
from tests.api_standin import StandIn, running_standin


@pytest.fixture(scope="module")
def standin_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StandIn]:
    """A stand-in API with its own CA, on a free port, for the tests of one module."""
    with running_standin(tmp_path_factory.mktemp("hpc-api")) as standin:
        yield standin


@pytest.fixture
def standin(standin_server: StandIn) -> StandIn:
    """The module's stand-in with its modes, bans and pending approvals reset."""
    standin_server.reset()
    return standin_server


@pytest.fixture
async def api(standin: StandIn) -> AsyncIterator[HpcApi]:
    """An API client of the stand-in."""
    async with HpcApi(standin.url, domain="pi", approval_timeout=60) as client:
        yield client
