"""`privacy-router simulate-upstream` refuses bad options before it binds a port."""

from __future__ import annotations

import pytest
import typer
from typer.testing import CliRunner

from privacy_router.upstream.commands import simulate_upstream


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--flavor", "sagemaker"], "use one of vllm, openai, anthropic"),
        (["--fault", "zap:1"], "unknown fault 'zap:1'"),
        (["--port", "0"], "greater than or equal to 1"),
    ],
    ids=["unknown-flavor", "unknown-fault", "port-zero"],
)
def test_bad_options_exit_2(args: list[str], message: str) -> None:
    app = typer.Typer()
    app.command()(simulate_upstream)
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2
    assert message in " ".join(result.output.split())
