"""After a run of the PHI corpus through the gateway, no stored record holds a sensitive value
(issue 6): every record's canonical bytes are scanned by the same DetectionEngine the router uses,
and searched literally for every planted identifier.

The corpus is privacy_router/bench/corpus.py (synthetic, seeded): MRNs, SSNs, card numbers,
names, e-mail addresses, phone numbers and IP addresses planted in filler text, sent by two
tenants so that the requests are routed on-prem, scrubbed, and blocked.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from privacy_router.app import create_app
from privacy_router.audit.sqlite import SqliteAuditStore
from privacy_router.bench.corpus import COMMON_KINDS, PHI_KINDS, prompts
from privacy_router.config import load_settings
from privacy_router.detection.engine import DetectionEngine
from privacy_router.gateway import Gateway
from privacy_router.testing import RunningSimulator, ServerThread
from tests.integration.conftest import EU_KEY, US_KEY, sha

# Fields whose values the router writes from its own vocabulary, never from request text: times,
# ids, hashes, codes, entity-type names, action and endpoint names, the policy's own reasons. The
# generic recognisers fire on some of them (DATE_TIME on ``ts``, LOCATION on "US", PERSON on the
# type name "PERSON", URL on "chat.completions"); a finding on any other field fails the test.
STRUCTURAL = {
    "action",
    "decision_record_id",
    # Pack versions ("2.2", "2026.11.1"): a version number looks like a date or an id to a detector.
    "detector.packs.credentials",
    "detector.packs.national_ids",
    "detector.packs.pci",
    "detector.packs.phi",
    "endpoint",
    "entities[].type",
    "policy.id",
    "policy_input.detection.entities[].type",
    "policy_input.principal.jurisdiction",
    "policy_input.request.endpoint",
    "principal.jurisdiction",
    "principal.key_id",
    "prompt_hmac",
    "reasons[]",
    "record_id",
    "request_id",
    "backend_region",
    "policy.files_hash",
    "scrub_entities[]",
    "ts",
}

CORPUS = prompts(24, 400, 3, COMMON_KINDS + PHI_KINDS, seed=20261127)


@pytest.fixture
def sims(tmp_path: Path) -> Iterator[tuple[RunningSimulator, RunningSimulator]]:
    with (
        RunningSimulator("vllm", record_path=tmp_path / "onprem.jsonl") as onprem,
        RunningSimulator("openai", record_path=tmp_path / "external.jsonl") as external,
    ):
        yield onprem, external


def test_no_stored_record_holds_a_planted_or_detectable_value(
    tmp_path: Path, detection_engine: DetectionEngine, sims: tuple[RunningSimulator, RunningSimulator]
) -> None:
    onprem, external = sims
    settings = load_settings(
        None,
        audit={"sqlite_path": str(tmp_path / "audit.db")},
        backends={
            "onprem": [
                {"name": "vllm-a", "url": onprem.url, "region": "us-east", "models": ["llama-3.1-8b"]}
            ],
            "external": [{"name": "openai", "url": external.url, "region": "us", "models": ["gpt-4o"]}],
        },
        model_map={"gpt-4o": "llama-3.1-8b"},
        api_keys=[
            {"key_sha256": sha(US_KEY), "service": "claims-bot", "tenant": "acme", "jurisdiction": "US"},
            {"key_sha256": sha(EU_KEY), "service": "portal", "tenant": "euro", "jurisdiction": "DE"},
        ],
    )
    gw = Gateway.from_settings(settings, detector=detection_engine)
    statuses: Counter[int] = Counter()
    with ServerThread(create_app(gw)) as srv, httpx.Client(timeout=30) as client:
        for i, doc in enumerate(CORPUS):
            key = US_KEY if i % 2 == 0 else EU_KEY
            body = {"model": "gpt-4o", "messages": [{"role": "user", "content": doc.text}]}
            r = client.post(
                f"{srv.url}/v1/chat/completions", json=body, headers={"authorization": f"Bearer {key}"}
            )
            statuses[r.status_code] += 1
        store = gw.audit
        assert isinstance(store, SqliteAuditStore)
        canons = [row.canon.decode("utf-8") for row in store.iter_rows()]
    records = [json.loads(c) for c in canons]
    decisions = [r for r in records if r["record_type"] == "decision"]
    assert len(decisions) == len(CORPUS)
    # The corpus really carried sensitive data: every decision saw entities.
    assert [d["request_id"] for d in decisions if not d["entities"]] == []
    planted = {doc.text[s:e] for doc in CORPUS for s, e, _ in doc.planted}
    assert len(planted) >= len(CORPUS)
    assert sorted(v for v in planted if any(v in c for c in canons)) == []
    # The detector over every string value of every record, each with its field path (list indices
    # dropped): the canonical JSON as a whole makes spaCy read keys and punctuation as prose.
    leaves = [(path, value) for r in records for path, value in _leaves(r)]
    findings = detection_engine.analyze([value for _, value in leaves])
    hits = [
        (leaves[i][0], f.entity_type, leaves[i][1][f.start : f.end])
        for i, found in enumerate(findings)
        for f in found
    ]
    # No finding covers (part of) a planted value, and findings occur on vocabulary fields only.
    assert [h for h in hits if any(h[2] in v or v in h[2] for v in planted)] == []
    assert sorted({path for path, _, _ in hits} - STRUCTURAL) == []


def _leaves(value: object, path: str = "") -> Iterator[tuple[str, str]]:
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _leaves(v, f"{path}.{k}" if path else k)
    elif isinstance(value, list):
        for v in value:
            yield from _leaves(v, f"{path}[]")
    elif isinstance(value, str):
        yield path, value
