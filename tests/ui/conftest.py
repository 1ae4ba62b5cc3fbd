"""Headless Chromium (Debian's ``/usr/bin/chromium``) driven by Playwright's Python package against a
gateway with recorded traffic. Playwright never downloads a browser here: ``executable_path`` is
the system one. Without it the tests skip with one line, unless PRIVACY_ROUTER_REQUIRE_BROWSER is
set (as .ci/run does), in which case they fail."""

from __future__ import annotations

import csv
import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from privacy_router.audit import decision_record
from privacy_router.audit.archive import Retention, load_checkpoints, plan_archive, seal, write_archive
from privacy_router.audit.checkpoints import Signer, merkle_range, sign_head, write_checkpoint
from privacy_router.audit.merkle import leaf_hash
from privacy_router.audit.sqlite import SqliteAuditStore
from privacy_router.cli import app
from privacy_router.config import BackendPricing, Settings
from privacy_router.detection.engine import DetectionEngine
from privacy_router.testing import RunningSimulator
from privacy_router.types import Decision, PolicyInfo, Principal
from privacy_router.ui import routes
from privacy_router.ui.evidence import verifier_for
from tests.api.test_audit_api import Recorded, recorded_gateway

CHROMIUM = Path("/usr/bin/chromium")
BROWSER_REQUIRED = bool(os.environ.get("PRIVACY_ROUTER_REQUIRE_BROWSER"))
LAUNCH_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "img"
# The recorded traffic is seqs 1..11; the checkpoint of this log covers them, signed at 18:00 on
# the last day, and the page clock reads 20:05:30, so its age is "2 h 5 min".
CHECKPOINT_SIZE = 11
CHECKPOINT_AT = datetime(2026, 3, 4, 18, 0, 0, tzinfo=UTC)
PAGE_NOW = datetime(2026, 3, 4, 20, 5, 30, tzinfo=UTC)
ORIGIN = "privacy-router/audit/sqlite/dashboard-demo"
OTHER_ORIGIN = "privacy-router/audit/postgresql/replica.example/audit/privacy_router_audit"


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Module scope on purpose: Playwright's sync API keeps an event loop running in this thread
    while it is open, and pytest-asyncio tests collected later cannot start their own."""
    if not CHROMIUM.exists():
        if BROWSER_REQUIRED:
            pytest.fail(f"{CHROMIUM} missing and PRIVACY_ROUTER_REQUIRE_BROWSER is set")
        pytest.skip(f"no system Chromium at {CHROMIUM}")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=str(CHROMIUM), args=LAUNCH_ARGS, headless=True)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture(scope="module")
def recorded(
    tmp_path_factory: pytest.TempPathFactory, detection_engine: DetectionEngine
) -> Iterator[Recorded]:
    tmp = tmp_path_factory.mktemp("ui")
    with (
        RunningSimulator("vllm", record_path=tmp / "onprem.jsonl") as onprem,
        RunningSimulator("openai", record_path=tmp / "external.jsonl") as external,
        recorded_gateway(tmp, detection_engine, onprem, external) as rec,
        pytest.MonkeyPatch.context() as mp,
    ):
        write_checkpoints(rec, tmp / "checkpoints", mp)
        append_shadowed_decisions(rec)
        yield rec


# Candidate policy of the shadow records below (policy/lifecycle.py ShadowPolicy.compare's shape).
CANDIDATE = {"revision": "2026.4.0-rc1", "files_hash": "fe" * 32}
SHADOW_DAY = "from=2026-03-05&to=2026-03-05"


def append_shadowed_decisions(rec: Recorded) -> None:
    """Three decisions made with shadow mode on, after the recorded traffic (seqs 12..14, on
    2026-03-05): the candidate agrees, then would have sent one external, then fails."""
    verdicts: list[tuple[str, str | None, dict[str, Any]]] = [
        ("onprem", "vllm", {"action": "onprem", "backend": "vllm", "agrees": True, "error": False}),
        ("onprem", "vllm", {"action": "external", "backend": "openai", "agrees": False, "error": False}),
        ("block", None, {"action": None, "backend": None, "agrees": False, "error": True}),
    ]
    info = rec.gw.policy.info
    policy = PolicyInfo(revision=info.revision, files_hash=info.files_hash, engine=info.engine)
    for n, (action, backend, shadow) in enumerate(verdicts):
        rec.gw.audit.append(
            decision_record(
                request_id=f"shadow-{n}",
                principal=Principal("claims-bot", "acme-health", "US", key_id="k-1"),
                endpoint="chat.completions",
                model="gpt-4o",
                decision=Decision(action=action, backend=backend, reasons=("PHI present",)),  # type: ignore[arg-type]
                backend_region="us" if backend else None,
                policy=policy,
                pack_versions={"phi": "2026.11.1"},
                entities=[{"type": "MEDICAL_RECORD_NUMBER", "count": 1, "max_score": 0.9, "fields": []}],
                categories=["PHI"],
                unscannable_parts=0,
                prompt_hmac="cd" * 32,
                policy_input={"request": {"endpoint": "chat.completions", "stream": False}},
                shadow={**shadow, **CANDIDATE},
            )
        )


def write_checkpoints(rec: Recorded, directory: Path, mp: pytest.MonkeyPatch) -> None:
    """Turn checkpoints on for the recorded gateway and sign its first 11 records, as
    ``CheckpointingStore`` would: an older checkpoint (size 5), the current one (size 11), and one of
    another log in the same folder."""
    audit = rec.gw.settings.audit.model_copy(
        update={"checkpoint_dir": directory, "checkpoint_origin": ORIGIN}
    )
    rec.gw.settings = rec.gw.settings.model_copy(update={"audit": audit})
    signer = Signer.generate("audit-test")
    mp.setenv(audit.signing_key_env, signer.private_text())
    mp.setattr(routes, "utcnow", lambda: PAGE_NOW)
    origin = ORIGIN
    for size, origin_name in ((5, origin), (CHECKPOINT_SIZE, origin), (3, OTHER_ORIGIN)):
        rows = list(rec.gw.audit.iter_rows())[:size]
        root = merkle_range(rows).root()
        note = sign_head(signer, origin_name, size, rows[-1].entry_hash.hex(), CHECKPOINT_AT, root)
        name_size = size if origin_name == origin else 10**6 + size  # distinct file names
        write_checkpoint(directory, note, name_size)


# -- economics: prices for the recorded backends, and the CLI's report over the same log -------------

ONPREM_PRICE = BackendPricing(hourly_usd=2.0, capacity_tokens_per_s=2000)
API_PRICE = BackendPricing(input_usd_per_mtok=2.5, output_usd_per_mtok=10)


def priced(settings: Settings) -> Settings:
    backends = settings.backends.model_copy(
        update={
            "onprem": tuple(b.model_copy(update={"pricing": ONPREM_PRICE}) for b in settings.backends.onprem),
            "external": tuple(
                b.model_copy(update={"pricing": API_PRICE}) for b in settings.backends.external
            ),
        }
    )
    return settings.model_copy(update={"backends": backends})


def cli_economics(rec: Recorded, tmp_path: Path, since: str, until: str) -> tuple[list[list[str]], list[str]]:
    """``privacy-router report economics`` over the gateway's audit file with its prices: the CSV's
    rows (no header) and the printed lines."""
    gw = rec.gw
    assert isinstance(gw.audit, SqliteAuditStore)
    config = tmp_path / "prices.yaml"
    backends = gw.settings.backends.model_dump(mode="json", exclude_defaults=True)
    config.write_text(
        yaml.safe_dump({"audit": {"sqlite_path": str(gw.audit.path)}, "backends": backends}), "utf-8"
    )
    out = tmp_path / "out"
    cli = CliRunner().invoke(
        app,
        [
            "report", "economics", "--config", str(config), "--audit", str(gw.audit.path),
            "--out", str(out), "--since", since, "--until", until, "--no-chart",
        ],
    )  # fmt: skip
    assert cli.exit_code == 0, cli.output
    with (out / "economics.csv").open(encoding="utf-8", newline="") as fh:
        rows = list(csv.reader(fh))[1:]
    return rows, cli.output.splitlines()


# -- after `privacy-router audit archive` -------------------------------------------------------------


@dataclass(frozen=True)
class ArchivedLog:
    ids: dict[int, str]  # seq -> record id, read before the archive
    hashes: list[bytes]  # leaf hashes of every record before the archive
    size: int  # the new checkpoint's size (the head before the archive)
    anchor_head: str  # entry hash of record 11, the archive's last record (hex)


def archive_the_checkpointed_records(rec: Recorded, folder: Path) -> ArchivedLog:
    """Seal records 1..11 (the signed checkpoint at 11) of the gateway's log with the real archive
    code, then sign a checkpoint of the live log at its head, as the gateway would (its Merkle root
    continues over the archived records)."""
    store = rec.gw.audit
    assert isinstance(store, SqliteAuditStore)
    settings = rec.gw.settings.audit
    verifier = verifier_for(settings)
    assert verifier is not None and settings.checkpoint_dir is not None
    whole = list(store.iter_rows())
    hashes = [leaf_hash(r.canon) for r in whole]
    retention, now = Retention(1, {}), datetime.now(UTC)
    plan = plan_archive(
        store,
        load_checkpoints(settings.checkpoint_dir, verifier, ORIGIN),
        retention,
        before=datetime(2026, 3, 5, tzinfo=UTC),
        now=now,
    )
    assert plan is not None and (plan.first_seq, plan.last_seq) == (1, CHECKPOINT_SIZE)
    seal(store, plan, write_archive(store, plan, folder, retention, now))
    size, head = whole[-1].seq, whole[-1].entry_hash.hex()
    signer = Signer.from_text(os.environ[settings.signing_key_env])
    note = sign_head(signer, ORIGIN, size, head, CHECKPOINT_AT, merkle_range(whole).root())
    write_checkpoint(settings.checkpoint_dir, note, size)
    anchor_head = whole[CHECKPOINT_SIZE - 1].entry_hash.hex()
    return ArchivedLog({r.seq: r.record_id for r in whole}, hashes, size, anchor_head)
