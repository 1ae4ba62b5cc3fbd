"""Synthetic, deterministic benchmark texts with planted identifiers whose spans must be covered.

Every identifier is generated (no real person's data): names from a short list of common given
names and surnames, SSNs outside the ranges Presidio invalidates (area 000, 666, 9xx), Luhn-valid
card numbers with a Visa prefix, phone numbers in the 555-01xx range reserved for fiction (NANPA),
addresses on example.com/example.org (RFC 2606), documentation IPs (RFC 5737). A seeded
``random.Random`` makes every run scan the same texts.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

FIRST = ["James", "Maria", "Robert", "Linda", "Michael", "Susan", "David", "Karen", "Thomas", "Nancy"]
LAST = ["Johnson", "Garcia", "Miller", "Davis", "Wilson", "Anderson", "Taylor", "Moore", "Jackson", "White"]

FILLER = [
    "The quarterly review covered onboarding, the support backlog and the migration plan.",
    "Please summarise the main points in three short bullet items for the steering group.",
    "We expect the new release to reduce the average handling time by about a fifth.",
    "The committee asked for a clearer explanation of the risks and the mitigations.",
    "Our team reviewed the contract terms and found two clauses that need clarification.",
    "Rewrite the following paragraph in a friendlier tone without changing its meaning.",
    "The dashboard shows a steady increase in weekly active users since the spring.",
    "Draft a polite reply that confirms the appointment and lists what to bring.",
    "The laboratory results were within normal limits and no follow-up is required.",
    "Compare the two proposals and recommend one, with the reasons for the choice.",
    "The outage was caused by an expired certificate on an internal load balancer.",
    "Translate the notes into plain language that a new employee can follow.",
]

# Kinds stock Presidio also detects (PERSON through spaCy NER) and kinds only a pack knows.
COMMON_KINDS = ("EMAIL", "PHONE", "US_SSN", "CREDIT_CARD", "PERSON", "IP_ADDRESS")
PHI_KINDS = ("MRN",)
# Personal data that is neither PHI, PCI nor credentials: a US tenant's request goes out scrubbed.
PII_KINDS = ("EMAIL", "PHONE", "PERSON", "IP_ADDRESS")


def _luhn_complete(partial: str) -> str:
    """Append the Luhn check digit (ISO/IEC 7812-1 Annex B) to ``partial``."""
    total = 0
    for i, ch in enumerate(reversed(partial)):
        d = int(ch)
        if i % 2 == 0:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return partial + str((10 - total % 10) % 10)


def identifier(kind: str, rng: random.Random) -> tuple[str, str]:
    """(sentence with the identifier, the identifier itself)."""
    first, last = rng.choice(FIRST), rng.choice(LAST)
    if kind == "EMAIL":
        value = f"{first.lower()}.{last.lower()}{rng.randint(1, 99)}@example.com"
        return f"You can write to {value} for the signed copy.", value
    if kind == "PHONE":
        value = f"(212) 555-01{rng.randint(0, 99):02d}"
        return f"Call back on {value} after four o'clock.", value
    if kind == "US_SSN":
        area = rng.choice([n for n in range(100, 666)])
        value = f"{area:03d}-{rng.randint(10, 99):02d}-{rng.randint(1000, 9999):04d}"
        return f"The applicant's social security number is {value}.", value
    if kind == "CREDIT_CARD":
        digits = _luhn_complete("4" + "".join(str(rng.randint(0, 9)) for _ in range(14)))
        value = " ".join(digits[i : i + 4] for i in range(0, 16, 4))
        return f"Charge the deposit to card {value} please.", value
    if kind == "PERSON":
        value = f"{first} {last}"
        return f"The request was filed by {value} last week.", value
    if kind == "IP_ADDRESS":
        value = f"192.0.2.{rng.randint(1, 254)}"
        return f"The failed logins came from {value} overnight.", value
    if kind == "MRN":
        value = f"{rng.randint(10_000_000, 99_999_999)}"
        return f"Patient MRN {value} was seen in the clinic.", value
    raise ValueError(f"unknown kind {kind}")


@dataclass
class Doc:
    text: str
    planted: list[tuple[int, int, str]] = field(default_factory=list)


def compose(rng: random.Random, size: int, n_ids: int, kinds: tuple[str, ...]) -> Doc:
    """About ``size`` characters of filler with ``n_ids`` planted identifiers spread through it."""
    sentences: list[tuple[str, str | None, str | None]] = []
    length = 0
    planted_at = {round((i + 0.5) * (size / 110) / max(n_ids, 1)) for i in range(n_ids)}
    i = 0
    offset = rng.randrange(len(kinds))  # each text starts the rotation of kinds somewhere else
    while length < size - 60:
        if i in planted_at and sum(1 for s in sentences if s[1]) < n_ids:
            kind = kinds[(offset + len([s for s in sentences if s[1]])) % len(kinds)]
            text, value = identifier(kind, rng)
            sentences.append((text, value, kind))
        else:
            text = rng.choice(FILLER)
            sentences.append((text, None, None))
        length += len(text) + 1
        i += 1
    doc = Doc("")
    parts: list[str] = []
    pos = 0
    for sentence, planted_value, planted_kind in sentences:
        if planted_value is not None and planted_kind is not None:
            at = pos + sentence.index(planted_value)
            doc.planted.append((at, at + len(planted_value), planted_kind))
        parts.append(sentence)
        pos += len(sentence) + 1
    doc.text = " ".join(parts)
    return doc


def prompts(n: int, size: int, n_ids: int, kinds: tuple[str, ...], seed: int) -> list[Doc]:
    rng = random.Random(seed)
    return [compose(rng, size, n_ids, kinds) for _ in range(n)]


SYSTEM = "You are a helpful assistant for the claims department. Answer briefly and politely."


@dataclass
class Chat:
    """A conversation: ``turns[i]`` is (user message, assistant answer)."""

    turns: list[tuple[Doc, Doc]]

    def request(self, i: int) -> list[Doc]:
        """The segments of request i (0-based): system, every earlier turn, the new user message."""
        docs = [Doc(SYSTEM)]
        for user, answer in self.turns[:i]:
            docs += [user, answer]
        docs.append(self.turns[i][0])
        return docs


def chat(turns: int, seed: int, message_size: int = 300) -> Chat:
    rng = random.Random(seed)
    out = []
    for i in range(turns):
        user = compose(rng, message_size, 1 if i % 2 == 0 else 0, COMMON_KINDS + PHI_KINDS)
        answer = compose(rng, message_size, 0, COMMON_KINDS)
        out.append((user, answer))
    return Chat(out)


def short_inputs(n: int, seed: int) -> list[Doc]:
    """Embedding inputs: one sentence each, every other one with an identifier."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        if i % 2 == 0:
            kind = COMMON_KINDS[(i // 2) % len(COMMON_KINDS)]
            sentence, value = identifier(kind, rng)
            at = sentence.index(value)
            out.append(Doc(sentence, [(at, at + len(value), kind)]))
        else:
            out.append(Doc(rng.choice(FILLER)))
    return out
