"""One simulator process per flavor for the whole upstream test folder (process start-up is slow)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from privacy_router.upstream.simulator import RunningSimulator


@pytest.fixture(scope="session")
def vllm_sim() -> Iterator[RunningSimulator]:
    with RunningSimulator("vllm") as sim:
        yield sim


@pytest.fixture(scope="session")
def openai_sim() -> Iterator[RunningSimulator]:
    with RunningSimulator("openai") as sim:
        yield sim


@pytest.fixture(params=["vllm", "openai"])
def sim(request: pytest.FixtureRequest) -> RunningSimulator:
    """Both flavors, each test runs twice. Records are cleared so a test sees only its own requests."""
    running: RunningSimulator = request.getfixturevalue(f"{request.param}_sim")
    running.clear_records()
    return running
