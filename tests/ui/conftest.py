"""Headless Chromium (Debian's ``/usr/bin/chromium``) driven by Playwright's Python package against a
gateway with recorded traffic. Playwright never downloads a browser here: ``executable_path`` is
the system one. Without it the tests skip with one line, unless PRIVACY_ROUTER_REQUIRE_BROWSER is
set (as .ci/run does), in which case they fail."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from privacy_router.audit import decision_record
from privacy_router.audit.checkpoints import Signer, merkle_range, sign_head, write_checkpoint
from privacy_router.detection.engine import DetectionEngine
from privacy_router.testing import RunningSimulator
from privacy_router.types import Decision, PolicyInfo, Principal
from privacy_router.ui import routes
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
