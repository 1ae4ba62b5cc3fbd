"""The values that travel along the request path. Plain, immutable where possible, no I/O."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

Action = Literal["onprem", "external", "external_scrubbed", "block"]
ACTIONS: tuple[str, ...] = ("onprem", "external", "external_scrubbed", "block")

# Location of a value inside the JSON payload: keys and list indices from the root.
Loc = tuple[str | int, ...]


@dataclass(frozen=True)
class Principal:
    """Who is calling, resolved from the API key."""

    service: str
    tenant: str
    jurisdiction: str
    roles: tuple[str, ...] = ("client",)
    key_id: str = "anonymous"

    def policy_view(self) -> dict[str, Any]:
        return {
            "service": self.service,
            "tenant": self.tenant,
            "jurisdiction": self.jurisdiction,
            "roles": list(self.roles),
        }


@dataclass(frozen=True)
class Segment:
    """One text-bearing value of a request.

    ``loc`` addresses the JSON string in the payload. When that string is itself JSON (a tool
    call's ``arguments``), ``inner`` addresses the leaf string inside the parsed document and
    ``loc`` points at the outer string. ``path`` is the display form used in policy input and the
    audit log, e.g. ``messages[2].content`` or ``messages[1].tool_calls[0].function.arguments.$.city``.
    """

    path: str
    text: str
    loc: Loc = ()
    inner: Loc | None = None


@dataclass(frozen=True)
class Finding:
    """A detected entity, with offsets into the ORIGINAL segment text."""

    entity_type: str
    start: int
    end: int
    score: float
    detector: str


@dataclass
class Extraction:
    """Everything the scanner must look at, plus the parts it cannot read."""

    segments: list[Segment]
    unscannable: list[str] = field(default_factory=list)  # display paths of images, audio, token ids...


@dataclass
class DetectionResult:
    """Findings per segment path, and whether detection completed."""

    findings: dict[str, list[Finding]]  # keyed by Segment.path
    status: Literal["ok", "error", "timeout"] = "ok"
    pack_versions: dict[str, str] = field(default_factory=dict)

    def all_findings(self) -> list[tuple[str, Finding]]:
        return [(path, f) for path, fs in self.findings.items() for f in fs]


@dataclass(frozen=True)
class Decision:
    """The policy's output, validated (see policy/schema.py)."""

    action: Action
    backend: str | None
    scrub_entities: tuple[str, ...] = ()
    reasons: tuple[str, ...] = ()
    policy_id: str = "privacy_router.decision"
    # Other backends of the same kind the router may try, in order, when ``backend`` fails before
    # answering (api/proxy.py). Left out of ==: it says where else, not where the request goes.
    fallbacks: tuple[str, ...] = field(default=(), compare=False)
    # Provenance, not part of the decision's meaning (left out of ==): the policy that made it (the
    # loaded revision may change under hot reload between evaluation and audit) and, for the OPA
    # engine, the decision id OPA logged it under.
    policy_info: PolicyInfo | None = field(default=None, compare=False)
    decision_id: str | None = field(default=None, compare=False)


@dataclass(frozen=True)
class PolicyInfo:
    """Identity of the loaded policy, recorded with every decision."""

    revision: str
    files_hash: str
    engine: str
