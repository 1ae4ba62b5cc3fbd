"""Kind ``bedrock`` through the whole gateway: images, endpoints Converse lacks, and ``n`` > 1.

The shipped policy keeps any request with an image on-prem (an image is an unscannable part), so the
image tests run a gateway whose test policy sends every request to the Bedrock backend. The
simulator checks every Converse image block (format, base64 bytes, size, signature) and echoes a
note with the image's format, size and SHA-256: that note is the proof the image arrived whole.
"""

from __future__ import annotations

import base64
import hashlib
import json
import sqlite3
import struct
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import ReadOnlyCredentials

from privacy_router.app import create_app
from privacy_router.config import load_settings
from privacy_router.detection.engine import DetectionEngine
from privacy_router.errors import BadRequest
from privacy_router.gateway import Gateway
from privacy_router.testing import ServerThread
from privacy_router.upstream.bedrock import converse_request
from privacy_router.upstream.simulator import RunningSimulator
from tests.integration.conftest import US_KEY, sha
from tests.upstream.conftest import CLEAN, GatewayUnderTest, posts
from tests.upstream.test_bedrock import KEY_ID, MODEL, SECRET, _set_aws_env, settings_for

pytestmark = pytest.mark.slow

# Every request to the Bedrock backend, images included. For these tests only.
ALL_TO_BEDROCK = """package privacy_router

import rego.v1

decision := {
	"action": "external",
	"backend": "bedrock",
	"scrub_entities": [],
	"reasons": ["test policy: every request to bedrock"],
	"policy_id": "test.all_to_bedrock",
}
"""


def png(width: int, height: int) -> bytes:
    """A real PNG (8-bit RGB, one red pixel repeated), encoded here with zlib and CRC32."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    rows = b"".join(b"\x00" + b"\xff\x00\x00" * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


PNG = png(3, 2)
PNG_B64 = base64.b64encode(PNG).decode()
NOTE = f"[image png 3x2, {len(PNG)} bytes, sha256 {hashlib.sha256(PNG).hexdigest()[:16]}]"


def with_image(url: str, text: str = "Describe this picture.") -> Any:
    """A user turn of text and one image part (typed Any: the SDK's message types are strict)."""
    parts = [{"type": "text", "text": text}, {"type": "image_url", "image_url": {"url": url}}]
    return [{"role": "user", "content": parts}]


@pytest.fixture(scope="module")
def bedrock_sim() -> Iterator[RunningSimulator]:
    with RunningSimulator("bedrock", api_key=f"{KEY_ID}:{SECRET}") as sim:
        yield sim


@contextmanager
def bedrock_gateway(
    tmp: Path, engine: DetectionEngine, sim: RunningSimulator, policy_dir: Path | None
) -> Iterator[GatewayUnderTest]:
    settings = load_settings(
        None,
        server={"detection_timeout_s": 5.0},
        policy={"dir": str(policy_dir)} if policy_dir else {},
        audit={"sqlite_path": str(tmp / "audit.db")},
        backends={"onprem": [], "external": [settings_for(sim)]},
        api_keys=[{"key_sha256": sha(US_KEY), "service": "svc", "tenant": "acme", "jurisdiction": "US"}],
    )
    with pytest.MonkeyPatch.context() as mp:
        _set_aws_env(mp, tmp)  # the adapter resolves (and keeps) credentials at its first health check
        gw = Gateway.from_settings(settings, detector=engine)
        with ServerThread(create_app(gw)) as srv:
            yield GatewayUnderTest(srv.url, gw)


@pytest.fixture(scope="module")
def shipped(
    tmp_path_factory: pytest.TempPathFactory, detection_engine: DetectionEngine, bedrock_sim: RunningSimulator
) -> Iterator[tuple[GatewayUnderTest, Path]]:
    """The gateway with the shipped policy, and its audit database."""
    tmp = tmp_path_factory.mktemp("bedrock-shipped")
    with bedrock_gateway(tmp, detection_engine, bedrock_sim, None) as running:
        yield running, tmp / "audit.db"


@pytest.fixture(scope="module")
def images_allowed(
    tmp_path_factory: pytest.TempPathFactory, detection_engine: DetectionEngine, bedrock_sim: RunningSimulator
) -> Iterator[GatewayUnderTest]:
    tmp = tmp_path_factory.mktemp("bedrock-images")
    (tmp / "policy").mkdir()
    (tmp / "policy" / "decision.rego").write_text(ALL_TO_BEDROCK, "utf-8")
    with bedrock_gateway(tmp, detection_engine, bedrock_sim, tmp / "policy") as running:
        yield running


@pytest.fixture(autouse=True)
def _fresh_records(bedrock_sim: RunningSimulator) -> None:
    bedrock_sim.clear_records()


def audit_records(db: Path, request_id: str) -> list[dict[str, Any]]:
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT canon FROM audit_log ORDER BY seq").fetchall()
    records = [json.loads(r[0]) for r in rows]
    return [r for r in records if r.get("request_id") == request_id]


# --------------------------------------------------------------------------------------------
# Images


@pytest.mark.parametrize("stream", [False, True], ids=["non-stream", "stream"])
def test_png_data_url_reaches_converse_as_an_image_block(
    images_allowed: GatewayUnderTest, bedrock_sim: RunningSimulator, stream: bool
) -> None:
    messages = with_image(f"data:image/png;base64,{PNG_B64}")
    with images_allowed.client() as client:
        if stream:
            chunks = list(client.chat.completions.create(model=MODEL, messages=messages, stream=True))
            text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
        else:
            answer = client.chat.completions.create(model=MODEL, messages=messages)
            text = answer.choices[0].message.content or ""
    assert text == f"Describe this picture. {NOTE}"
    [record] = posts(bedrock_sim)
    operation = "converse-stream" if stream else "converse"
    assert record["path"] == f"/model/{MODEL}/{operation}"
    assert record["body"]["messages"] == [
        {
            "role": "user",
            "content": [
                {"text": "Describe this picture."},
                {"image": {"format": "png", "source": {"bytes": PNG_B64}}},
            ],
        }
    ]


BAD_IMAGES = {
    "https-url": ("https://example.com/cat.png", "Bedrock cannot fetch image URLs"),
    "http-url": ("http://example.com/cat.png", "Bedrock cannot fetch image URLs"),
    "not-base64": ("data:image/png;base64,@@not*base64@@", "not valid base64"),
    "empty": ("data:image/png;base64,", "empty"),
    "not-png-bytes": (
        "data:image/png;base64," + base64.b64encode(b"GIF89a not a png").decode(),
        "not a png image",
    ),
    "bmp": ("data:image/bmp;base64," + base64.b64encode(b"BM....").decode(), "png, jpeg, gif or webp"),
    "plain-data-url": ("data:image/png,rawbytes", "must be base64"),
}


@pytest.mark.parametrize("stream", [False, True], ids=["non-stream", "stream"])
@pytest.mark.parametrize("case", list(BAD_IMAGES))
def test_unsendable_image_is_a_400_and_nothing_is_forwarded(
    images_allowed: GatewayUnderTest, bedrock_sim: RunningSimulator, case: str, stream: bool
) -> None:
    url, expected = BAD_IMAGES[case]
    with images_allowed.client() as client, pytest.raises(openai.BadRequestError) as err:
        client.chat.completions.create(model=MODEL, messages=with_image(url), stream=stream)
    body = err.value.body
    assert isinstance(body, dict)
    assert (body["code"], body["type"]) == ("unsupported_by_backend", "invalid_request_error")
    assert expected in body["message"]
    assert set(body) >= {"message", "type", "param", "code"}
    if url.startswith("http"):
        assert "example.com" not in body["message"]  # the client's value is not echoed
    assert posts(bedrock_sim) == []


def test_shipped_policy_keeps_images_away_from_bedrock(
    shipped: tuple[GatewayUnderTest, Path], bedrock_sim: RunningSimulator
) -> None:
    """No on-prem backend here, so the shipped policy blocks (403): an image never goes external."""
    gateway, _ = shipped
    with gateway.client() as client, pytest.raises(openai.PermissionDeniedError) as err:
        client.chat.completions.create(model=MODEL, messages=with_image(f"data:image/png;base64,{PNG_B64}"))
    assert isinstance(err.value.body, dict) and err.value.body["code"] == "request_blocked"
    assert posts(bedrock_sim) == []


# --------------------------------------------------------------------------------------------
# Endpoints Converse does not have, and n > 1 (shipped policy: a clean prompt goes to Bedrock)


def _refused_and_audited(db: Path, err: openai.APIStatusError, code: str) -> None:
    assert err.status_code == 400
    body = err.body
    assert isinstance(body, dict)
    assert set(body) >= {"message", "type", "param", "code"} and body["code"] == code
    # The client's request, not a backend failure: no fallback, no upstream-error outcome.
    assert body["type"] == "invalid_request_error"
    request_id = err.response.headers["x-request-id"]
    assert err.response.headers["x-privacy-route"] == "external"
    records = audit_records(db, request_id)
    assert [r["record_type"] for r in records] == ["decision", "completion"]
    decision, completion = records
    assert (decision["action"], decision["backend"]) == ("external", "bedrock")
    assert (completion["status"], completion["backend"], completion["usage"]) == (400, "bedrock", None)
    assert completion["outcome"] == "rejected"


def test_completions_to_bedrock_is_a_400_audited_and_not_forwarded(
    shipped: tuple[GatewayUnderTest, Path], bedrock_sim: RunningSimulator
) -> None:
    gateway, db = shipped
    with gateway.client() as client, pytest.raises(openai.BadRequestError) as err:
        client.completions.create(model=MODEL, prompt=CLEAN, max_tokens=5)
    _refused_and_audited(db, err.value, "unsupported_endpoint")
    assert "not available on the backend" in str(err.value.message)
    assert posts(bedrock_sim) == []


def test_embeddings_to_bedrock_is_a_400_audited_and_not_forwarded(
    shipped: tuple[GatewayUnderTest, Path], bedrock_sim: RunningSimulator
) -> None:
    gateway, db = shipped
    with gateway.client() as client, pytest.raises(openai.BadRequestError) as err:
        client.embeddings.create(model=MODEL, input=CLEAN)
    _refused_and_audited(db, err.value, "unsupported_endpoint")
    assert posts(bedrock_sim) == []


@pytest.mark.parametrize("stream", [False, True], ids=["non-stream", "stream"])
def test_n_above_one_is_a_400_audited_and_not_forwarded(
    shipped: tuple[GatewayUnderTest, Path], bedrock_sim: RunningSimulator, stream: bool
) -> None:
    gateway, db = shipped
    with gateway.client() as client, pytest.raises(openai.BadRequestError) as err:
        client.chat.completions.create(
            model=MODEL, messages=[{"role": "user", "content": CLEAN}], n=2, stream=stream
        )
    _refused_and_audited(db, err.value, "unsupported_by_backend")
    assert "n > 1" in str(err.value.message)
    assert posts(bedrock_sim) == []


# --------------------------------------------------------------------------------------------
# The simulator's own image checks (signed requests straight to it, no adapter in between)


def _converse_direct(sim: RunningSimulator, content: list[dict[str, Any]]) -> httpx.Response:
    url = f"{sim.root_url}/model/{MODEL.replace(':', '%3A')}/converse"
    body = json.dumps({"messages": [{"role": "user", "content": content}]}).encode()
    request = AWSRequest(method="POST", url=url, data=body, headers={"Content-Type": "application/json"})
    SigV4Auth(ReadOnlyCredentials(KEY_ID, SECRET, None), "bedrock", "us-east-1").add_auth(request)
    return httpx.post(url, content=body, headers=dict(request.headers.items()), timeout=30)


def _image(image_format: str, data: bytes | str) -> dict[str, Any]:
    raw = data if isinstance(data, str) else base64.b64encode(data).decode()
    return {"image": {"format": image_format, "source": {"bytes": raw}}}


SIM_REFUSALS = {
    "bmp-format": ([_image("bmp", PNG)], "must be one of png, jpeg, gif or webp"),
    "not-base64": ([_image("png", "%%%")], "non-empty base64"),
    "wrong-signature": ([_image("jpeg", PNG)], "not in the declared format"),
    "too-large": ([_image("png", PNG + b"\0" * 3_750_000)], "maximum size of 3.75 MB"),
    "too-wide": ([_image("png", png(8001, 1))], "8000 pixels"),
    "s3": ([{"image": {"format": "png", "source": {"s3Location": {"uri": "s3://b/k"}}}}], "no s3Location"),
    "extra-field": ([{"image": {"format": "png", "source": {"bytes": PNG_B64}, "x": 1}}], "exactly"),
    "21-images": ([_image("png", PNG)] * 21, "at most 20 images"),
}


@pytest.mark.parametrize("case", list(SIM_REFUSALS))
def test_simulator_refuses_bad_image_blocks_like_converse(bedrock_sim: RunningSimulator, case: str) -> None:
    content, expected = SIM_REFUSALS[case]
    response = _converse_direct(bedrock_sim, [{"text": "Look."}, *content])
    assert response.status_code == 400
    assert response.headers["x-amzn-errortype"].startswith("ValidationException:")
    assert expected in response.json()["message"]


def test_simulator_accepts_twenty_images_and_notes_each(bedrock_sim: RunningSimulator) -> None:
    response = _converse_direct(bedrock_sim, [{"text": "Look."}, *[_image("png", PNG)] * 20])
    assert response.status_code == 200
    [block] = response.json()["output"]["message"]["content"]
    assert block["text"] == "Look. " + " ".join([NOTE] * 20)


# --------------------------------------------------------------------------------------------
# The translation alone


def test_converse_request_checks_image_count_and_size() -> None:
    part = {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG_B64}"}}
    twenty = {"model": MODEL, "messages": [{"role": "user", "content": [part] * 20}]}
    assert len(converse_request(twenty)["messages"][0]["content"]) == 20
    with pytest.raises(BadRequest, match="at most 20 images"):
        converse_request({"model": MODEL, "messages": [{"role": "user", "content": [part] * 21}]})
    big = base64.b64encode(PNG + b"\0" * 3_750_000).decode()
    large = {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{big}"}}
    with pytest.raises(BadRequest, match=r"at most 3\.75 MB"):
        converse_request({"model": MODEL, "messages": [{"role": "user", "content": [large]}]})
