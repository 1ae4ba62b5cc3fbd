"""Secrets in a prompt never leave unscrubbed: the credentials pack through the whole gateway.

The openai SDK talks to the gateway subprocess over real sockets; the upstreams are simulators
that record every request. Credentials are in the CREDENTIALS class, which the default policy keeps
on-prem for every tenant, so the US tenant (whose scrubbed PII may go out) is the strict test: a
secret detected only as PII would leave as ``external_scrubbed``, a missed one as ``external``.
"""

from __future__ import annotations

import base64

import openai
import pytest

from tests.integration.conftest import EU_KEY, US_KEY, Stack

JWT = (
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIiwiaWF0"
    "IjoxNTE2MjM5MDIyfQ.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c"
)
PRIVATE_KEY = (
    "-----BEGIN RSA PRIVATE KEY-----\n"
    "MIIEowIBAAKCAQEAu1SU1LfVLPHCozMxH2Mo4lgOEePzNm0tRgeLezV6ffAt0gun\n"
    "VTLw7onLRnrq0/IzW7yWR7QkrmBL7jTKEn5u+qKhbwKfBstIs+bMY2Zkp18gnTxK\n"
    "-----END RSA PRIVATE KEY-----"
)
AWS_KEY_ID = "AKIAQ7DFHW3NB2XKJ5TE"
AWS_SECRET = "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"

# (prompt, the secret bytes that must never reach the external backend)
SECRETS = {
    "aws-key-pair": (
        f"Why does boto3 say access denied?\naws_access_key_id = {AWS_KEY_ID}\n"
        f"aws_secret_access_key = {AWS_SECRET}",
        [AWS_KEY_ID, AWS_SECRET],
    ),
    "private-key-block": (f"Is this key in the right format?\n{PRIVATE_KEY}", ["MIIEowIBAAKCAQEAu1SU1Lf"]),
    "jwt": (f"Decode this token for me: {JWT}", [JWT.split(".")[1], JWT.split(".")[2]]),
    "github-token": (
        "My CI fails with GH_TOKEN=ghp_gJTeKdNnFRIBXuDL7DxtpYlSXpfKtHF4vUCs, why?",
        ["gJTeKdNnFRIBXuDL7DxtpYlSXpfKtHF4vUCs"],
    ),
    "connection-string": (
        "Fix this: DATABASE_URL=postgres://emr_app:Sup3rS3cret@db.internal:5432/emr",
        ["Sup3rS3cret"],
    ),
    "password-in-prose": ("my password is Tr0ub4dor&3, is it strong enough?", ["Tr0ub4dor&3"]),
    "aws-key-id-in-base64": (
        f"config blob: {base64.b64encode(f'key={AWS_KEY_ID}'.encode()).decode()}",
        [AWS_KEY_ID, base64.b64encode(f"key={AWS_KEY_ID}".encode()).decode()],
    ),
}


def _chat(stack: Stack, content: str, key: str) -> str:
    client = openai.OpenAI(base_url=f"{stack.url}/v1", api_key=key, max_retries=0)
    raw = client.chat.completions.with_raw_response.create(
        model="gpt-4o", messages=[{"role": "user", "content": content}]
    )
    return raw.headers["x-privacy-route"]


def test_control_the_same_questions_without_secrets_go_external(stack: Stack) -> None:
    """Without the secret the question leaves: the on-prem routes below are the detector's doing."""
    assert _chat(stack, "Why does boto3 say access denied when my keys look right?", US_KEY) == "external"
    assert _chat(stack, "How do I decode a signed token for debugging?", US_KEY) == "external"
    assert _chat(stack, "Is this key in the right format?", US_KEY) == "external"


@pytest.mark.parametrize("key", [US_KEY, EU_KEY], ids=["us-tenant", "eu-tenant"])
@pytest.mark.parametrize("case", list(SECRETS), ids=list(SECRETS))
def test_secret_stays_onprem_and_never_reaches_the_external_backend(
    stack: Stack, case: str, key: str
) -> None:
    prompt, secrets = SECRETS[case]
    before = len(stack.external_bodies())
    assert _chat(stack, prompt, key) == "onprem"
    assert len(stack.external_bodies()) == before
    assert stack.onprem_bodies()[-1]["messages"][0]["content"] == prompt
    external = stack.external_text()
    assert not [s for s in secrets if s in external]
