"""`audit prove` and `audit verify-proof`: inclusion and consistency bundles against signed
checkpoints, checked offline with the public key only; every forged bundle is refused."""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from privacy_router.audit.checkpoints import CheckpointingStore, Signer, Verifier
from privacy_router.audit.commands import app
from privacy_router.audit.merkle import leaf_hash, root
from privacy_router.audit.sqlite import SqliteAuditStore
from tests.audit.conftest import attacker_connection, make_decision

runner = CliRunner()


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Path]:
    signer = Signer.generate("acme-audit")
    monkeypatch.setenv("PR_TEST_SIGNING_KEY", signer.private_text())
    public = tmp_path / "audit.pub"
    public.write_text(signer.verifier().text() + "\n", encoding="utf-8")
    db = tmp_path / "audit.db"
    config = tmp_path / "router.yaml"
    config.write_text(
        f"audit:\n  sqlite_path: {db}\n  signing_key_env: PR_TEST_SIGNING_KEY\n"
        f"  checkpoint_dir: {tmp_path / 'ckpt'}\n",
        encoding="utf-8",
    )
    return {"db": db, "config": config, "public": public, "dir": tmp_path}


def _append(db: Path, n: int) -> None:
    with SqliteAuditStore(db) as store:
        for i in range(n):
            store.append(make_decision(i))


def _checkpoint(env: dict[str, Path]) -> Path:
    result = runner.invoke(app, ["checkpoint", "--config", str(env["config"])])
    assert result.exit_code == 0, result.output
    return Path(result.output.splitlines()[0].removeprefix("wrote "))


def _prove(env: dict[str, Path], *args: str) -> tuple[int, str]:
    result = runner.invoke(
        app, ["prove", "--config", str(env["config"]), "--public-key", str(env["public"]), *args]
    )
    return result.exit_code, result.output


def _verify_proof(env: dict[str, Path], bundle: dict[str, Any] | str) -> tuple[int, str]:
    path = env["dir"] / "bundle.json"
    path.write_text(bundle if isinstance(bundle, str) else json.dumps(bundle), encoding="utf-8")
    result = runner.invoke(app, ["verify-proof", str(path), "--public-key", str(env["public"])])
    return result.exit_code, result.output


@pytest.fixture
def inclusion(env: dict[str, Path]) -> dict[str, Any]:
    _append(env["db"], 7)
    checkpoint = _checkpoint(env)
    code, out = _prove(env, "--checkpoint", str(checkpoint), "--seq", "3")
    assert code == 0, out
    bundle: dict[str, Any] = json.loads(out)
    return bundle


def test_checkpoints_carry_the_merkle_root_of_the_records(env: dict[str, Path]) -> None:
    _append(env["db"], 5)
    note = _checkpoint(env).read_text()
    with SqliteAuditStore(env["db"]) as store:
        expected = root([leaf_hash(r.canon) for r in store.iter_rows()])
    assert Verifier.from_text(env["public"].read_text()).open(note).merkle_root == expected


def test_inclusion_bundle_verifies_offline(env: dict[str, Path], inclusion: dict[str, Any]) -> None:
    assert sorted(inclusion) == ["checkpoint", "kind", "leaf", "proof", "seq"]
    assert json.loads(base64.b64decode(inclusion["leaf"]))["request_id"] == "req-0002"
    origin = f"privacy-router/audit/sqlite/{env['db']}"
    assert _verify_proof(env, inclusion) == (0, f"OK: record seq 3 is included in {origin} at size 7\n")


def test_the_size_of_a_bundle_comes_from_its_signed_checkpoint(
    env: dict[str, Path], inclusion: dict[str, Any]
) -> None:
    """A prover cannot pick the tree size: a 'size' key in the bundle is ignored, not trusted."""
    origin = f"privacy-router/audit/sqlite/{env['db']}"
    assert _verify_proof(env, {**inclusion, "size": 8}) == (
        0,
        f"OK: record seq 3 is included in {origin} at size 7\n",
    )


def _edit_leaf(b: dict[str, Any]) -> dict[str, Any]:
    record = json.loads(base64.b64decode(b["leaf"]))
    record["action"] = "block"
    return {**b, "leaf": base64.b64encode(json.dumps(record).encode()).decode()}


def _flip_proof(b: dict[str, Any]) -> dict[str, Any]:
    first = bytearray(base64.b64decode(b["proof"][0]))
    first[0] ^= 1
    return {**b, "proof": [base64.b64encode(bytes(first)).decode(), *b["proof"][1:]]}


FORGED_INCLUSION: list[Any] = [
    pytest.param(_edit_leaf, "FAILED: inclusion proof does not verify", id="record-edited"),
    pytest.param(lambda b: {**b, "seq": 4}, "FAILED: inclusion proof does not verify", id="other-seq"),
    pytest.param(lambda b: {**b, "seq": 8}, "FAILED: inclusion proof does not verify", id="seq-beyond-size"),
    pytest.param(lambda b: {**b, "seq": True}, "FAILED: bundle 'seq' must be an integer", id="seq-bool"),
    pytest.param(_flip_proof, "FAILED: inclusion proof does not verify", id="proof-bit-flipped"),
    pytest.param(
        lambda b: {**b, "proof": b["proof"][:-1]}, "FAILED: inclusion proof does not verify", id="proof-short"
    ),
    pytest.param(
        lambda b: {**b, "proof": ["AAAA"]},
        "FAILED: bundle 'proof' holds a hash that is not 32 bytes",
        id="proof-bad-hash",
    ),
    pytest.param(
        lambda b: {**b, "checkpoint": b["checkpoint"].replace("\n7\n", "\n3\n")},
        "FAILED: checkpoint signature by acme-audit does not verify",
        id="checkpoint-size-edited",
    ),
    pytest.param(
        lambda b: {
            **b,
            "checkpoint": Signer.generate("acme-audit").sign_note(b["checkpoint"].split("\n\n")[0] + "\n"),
        },
        "FAILED: checkpoint carries no signature by key acme-audit",
        id="checkpoint-resigned-by-impostor",
    ),
    pytest.param(
        lambda b: {**b, "kind": "membership"},
        "FAILED: bundle 'kind' must be inclusion or consistency",
        id="kind",
    ),
    pytest.param(lambda b: "not json", "FAILED: bundle is not JSON", id="not-json"),
    pytest.param(lambda b: [b], "FAILED: bundle is not a JSON object", id="not-object"),
]


@pytest.mark.parametrize(("forge", "message"), FORGED_INCLUSION)
def test_forged_inclusion_bundles_are_refused(
    env: dict[str, Path], inclusion: dict[str, Any], forge: Callable[[dict[str, Any]], Any], message: str
) -> None:
    forged = forge(inclusion)
    assert _verify_proof(env, forged if isinstance(forged, str | dict) else json.dumps(forged)) == (
        1,
        message + "\n",
    )


def test_consistency_bundle_between_two_checkpoints(env: dict[str, Path]) -> None:
    _append(env["db"], 4)
    old = _checkpoint(env)
    _append(env["db"], 5)
    new = _checkpoint(env)
    code, out = _prove(env, "--checkpoint", str(new), "--old", str(old))
    assert code == 0, out
    bundle = json.loads(out)
    origin = f"privacy-router/audit/sqlite/{env['db']}"
    assert _verify_proof(env, bundle) == (0, f"OK: {origin} at size 9 extends size 4\n")
    swapped = {**bundle, "old": bundle["new"], "new": bundle["old"]}
    assert _verify_proof(env, swapped) == (1, "FAILED: consistency proof does not verify\n")
    assert _verify_proof(env, _flip_proof(bundle)) == (1, "FAILED: consistency proof does not verify\n")
    assert _verify_proof(env, {**bundle, "proof": []}) == (1, "FAILED: consistency proof does not verify\n")


def test_prove_refuses_a_log_rewritten_since_the_checkpoint(env: dict[str, Path]) -> None:
    _append(env["db"], 5)
    checkpoint = _checkpoint(env)
    conn = attacker_connection(env["db"])
    conn.execute("UPDATE audit_log SET canon = CAST('{}' AS BLOB) WHERE seq = 2")
    conn.close()
    assert _prove(env, "--checkpoint", str(checkpoint), "--seq", "1") == (
        1,
        "error: the log's merkle root differs from the checkpoint's (log rewritten?)\n",
    )


def test_prove_refuses_a_seq_outside_the_checkpoint(env: dict[str, Path]) -> None:
    _append(env["db"], 2)
    checkpoint = _checkpoint(env)
    assert _prove(env, "--checkpoint", str(checkpoint), "--seq", "3") == (
        1,
        "error: seq 3 is outside the checkpoint (size 2)\n",
    )


def test_router_checkpoints_support_proofs(env: dict[str, Path]) -> None:
    """Checkpoints written while serving carry the Merkle root too, across a restart."""
    signer = Signer.from_text(os.environ["PR_TEST_SIGNING_KEY"])
    _append(env["db"], 3)  # written before this process: the store catches up from the log
    store = CheckpointingStore(
        SqliteAuditStore(env["db"]),
        signer=signer,
        origin="o",
        directory=env["dir"] / "c",
        every=5,
        interval_s=3600,
    )
    store.append(make_decision(9))
    store.append(make_decision(10))
    store.close()
    note = (env["dir"] / "c" / "checkpoint-000000000005.txt").read_text()
    code, out = _prove(
        env, "--checkpoint", str(env["dir"] / "c" / "checkpoint-000000000005.txt"), "--seq", "4"
    )
    assert code == 0, out
    assert _verify_proof(env, json.loads(out)) == (0, "OK: record seq 4 is included in o at size 5\n")
    assert Verifier.from_text(env["public"].read_text()).open(note).size == 5
