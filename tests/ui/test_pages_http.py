"""The Economics page, the integrity page under a slow checkpoint read, and the record and integrity
pages after `audit archive`, over HTTP against the recorded gateway (tests/ui/conftest.py: real
traffic, seqs 1..11 on 2026-03-02..04, checkpoints at 5 and 11, shadowed decisions 12..14). No
browser: the numbers are read from the served HTML.

The tests run in file order: the last one archives records 1..11 of this module's gateway."""

from __future__ import annotations

import html
import json
import re
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from privacy_router.audit.merkle import inclusion_proof
from privacy_router.ui import routes
from privacy_router.ui.evidence import CheckpointView, latest_checkpoints
from privacy_router.ui.session import COOKIE
from tests.api.test_audit_api import COMPLIANCE, SENSITIVE_VALUES, Recorded, audit_queries
from tests.ui.conftest import (
    CHECKPOINT_SIZE,
    ORIGIN,
    OTHER_ORIGIN,
    archive_the_checkpointed_records,
    cli_economics,
    priced,
)

RANGE = {"from": "2026-03-02", "to": "2026-03-04"}


def session(rec: Recorded) -> str:
    with httpx.Client(base_url=rec.url, follow_redirects=False) as client:
        login = client.get("/ui/login")
        token = login.text.split('name="csrf" value="')[1].split('"')[0]
        r = client.post("/ui/login", data={"csrf": token, "key": COMPLIANCE})
        assert r.status_code == 303
        return r.cookies[COOKIE]


def get(rec: Recorded, sid: str, path: str, **params: str) -> httpx.Response:
    return httpx.get(f"{rec.url}{path}", params=params, cookies={COOKIE: sid}, timeout=60)


def text_of(page: str, name: str) -> str:
    """The text of the element with ``data-testid=name`` (first one, tags stripped)."""
    found = re.search(rf'data-testid="{name}"[^>]*>(.*?)</', page, re.S)
    assert found is not None, name
    return html.unescape(re.sub(r"<[^>]+>", "", found.group(1))).strip()


# -- economics ------------------------------------------------------------------------------------


def test_the_economics_page_shows_the_numbers_of_the_cli_report(recorded: Recorded, tmp_path: Path) -> None:
    recorded.gw.settings = priced(recorded.gw.settings)
    cli_rows, text = cli_economics(recorded, tmp_path, RANGE["from"], RANGE["to"])

    sid = session(recorded)
    before = len(audit_queries(recorded))
    r = get(recorded, sid, "/ui/economics", **RANGE)
    assert r.status_code == 200
    page = r.text
    # Every row of the table, to the CSV's six decimals, and the totals row.
    page_rows = [html.unescape(v).split("|") for v in re.findall(r'data-csv="([^"]*)"', page)]
    assert page_rows == cli_rows
    assert [row[:3] for row in page_rows] == [
        ["external", "openai", "2"],
        ["external_scrubbed", "openai", "1"],
        ["onprem", "vllm-a", "2"],
        ["all", "all", "5"],
    ]
    assert float(page_rows[2][6]) == 2.0 * 72  # three days of the on-prem unit
    assert float(page_rows[0][5]) > 0  # the simulator reports usage; the API is priced
    # The on-prem share, why, and the crossover's arithmetic, line for line.
    share = text_of(page, "kpi-onprem-share")
    assert f"kept on-prem: {share} of served requests" in text
    assert (share, text_of(page, "kpi-served"), text_of(page, "kpi-blocked")) == ("40.0%", "5", "1")
    reasons = re.findall(r'<td>([^<]+)</td><td class="num" data-name="[^"]+">([\d,]+)</td>', page)
    start = text.index("kept on-prem: 40.0% of served requests") + 1
    assert [f"  {why}: {n}" for why, n in reasons] == text[start : start + len(reasons)]
    assert reasons
    steps = re.search(r'data-testid="crossover">(.*?)</ol>', page, re.S)
    assert steps is not None
    shown = [html.unescape(s) for s in re.findall(r"<li>(.*?)</li>", steps.group(1))]
    head = text.index("crossover (moving the external share on-prem):")
    assert shown == [line.removeprefix("  ") for line in text[head + 1 :] if line.startswith("  ")]
    assert len(shown) >= 4
    # The chart's data: the CLI chart's functions, as JSON in a data- attribute (strict CSP).
    chart = json.loads(html.unescape(re.findall(r'data-chart="([^"]*)"', page)[0]))
    assert chart["kind"] == "cost" and len(chart["series"]) == 2
    # Audited like every read: who, the range, and the CLI's row count (served + blocked).
    reads = [q for q in audit_queries(recorded)[before:] if q["surface"] == "ui"]
    assert [(q["operation"], q["rows"], q["filters"]) for q in reads] == [
        (
            "ui.economics",
            6,
            {"since": "2026-03-02T00:00:00.000Z", "until": "2026-03-05T00:00:00.000Z"},
        )
    ]
    for value in SENSITIVE_VALUES:
        assert value not in page


def test_the_economics_page_refuses_a_bad_range(recorded: Recorded) -> None:
    sid = session(recorded)
    for params, message in (
        ({"from": "2026-03-04", "to": "2026-03-02"}, "&#39;until&#39; must be later than &#39;since&#39;"),
        ({"from": "2026-03-04"}, "give both &#39;from&#39; and &#39;to&#39;"),
        ({"from": "yesterday", "to": "2026-03-02"}, "&#39;from&#39; must be a date (YYYY-MM-DD)"),
    ):
        r = get(recorded, sid, "/ui/economics", **params)
        assert r.status_code == 400, params
        assert message in r.text


# -- the event loop -------------------------------------------------------------------------------


def test_a_slow_checkpoint_read_leaves_the_event_loop_free(
    recorded: Recorded, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The integrity page reads and checks the checkpoint files in a worker thread: while that read
    is held up for a second, ``/healthz`` on the same gateway (same event loop) is answered first."""
    reading = threading.Event()

    def slow(*args: Any, **kwargs: Any) -> list[CheckpointView]:
        reading.set()
        time.sleep(1)
        return latest_checkpoints(*args, **kwargs)

    monkeypatch.setattr(routes, "latest_checkpoints", slow)
    sid = session(recorded)
    finished: list[str] = []
    page: list[httpx.Response] = []

    def view_page() -> None:
        page.append(get(recorded, sid, "/ui/integrity"))
        finished.append("page")

    viewer = threading.Thread(target=view_page)
    viewer.start()
    try:
        assert reading.wait(30), "the integrity page never read the checkpoints"
        health = httpx.get(f"{recorded.url}/healthz", timeout=60)
        finished.append("healthz")
    finally:
        viewer.join(60)
    assert finished == ["healthz", "page"]
    assert health.status_code == 200
    assert page[0].status_code == 200
    # The same page as without the delay: both logs' newest checkpoints, signatures checked.
    shown = page[0].text
    assert re.findall(r'<tr data-origin="([^"]*)">', shown) == [OTHER_ORIGIN, ORIGIN]
    assert re.findall(r'data-col="size">(\d+)<', shown) == ["3", str(CHECKPOINT_SIZE)]
    assert re.findall(r'data-col="signature" class="ok">([^<]*)<', shown) == ["verified", "verified"]
    assert re.findall(r'data-col="age">([^<]*)<', shown) == ["2 h 5 min", "2 h 5 min"]


# -- after `audit archive` ------------------------------------------------------------------------


def _verify_from_the_page(rec: Recorded, sid: str) -> None:
    integrity = get(rec, sid, "/ui/integrity").text
    token = integrity.split('name="csrf" value="')[1].split('"')[0]
    r = httpx.post(
        f"{rec.url}/ui/integrity/verify",
        data={"csrf": token},
        cookies={COOKIE: sid},
        headers={"origin": rec.url},
    )
    job = r.headers["location"].split("job=")[1]
    deadline = time.monotonic() + 60
    progress = get(rec, sid, f"/ui/integrity/verify/{job}").json()
    while progress["state"] == "running" and time.monotonic() < deadline:
        time.sleep(0.05)
        progress = get(rec, sid, f"/ui/integrity/verify/{job}").json()
    assert progress["state"] == "done", progress


def test_after_an_archive_the_pages_continue_from_the_anchor(recorded: Recorded, tmp_path: Path) -> None:
    log = archive_the_checkpointed_records(recorded, tmp_path / "archive")
    ids, hashes, size = log.ids, log.hashes, log.size

    sid = session(recorded)
    # The first live record: linked to the archive, with a proof over the whole log.
    page = get(recorded, sid, f"/ui/records/{ids[12]}").text
    assert text_of(page, "proof-status") == f"Verified: record seq 12 is included in {ORIGIN} at size {size}"
    path = re.findall(r"<li><code>([0-9a-f]{64})</code></li>", page)
    assert path == [h.hex() for h in inclusion_proof(11, hashes)]
    assert text_of(page, "previous-archived").startswith(
        "archived in archive-000000000001-000000000011.manifest.json: this is the first live record"
    )
    assert "links to the previous record" in page and "does not match the previous record" not in page
    # A record that was archived: said so, not "not found".
    r = get(recorded, sid, f"/ui/records/{recorded.audit_ids['a-pii']}")
    assert r.status_code == 200
    assert text_of(r.text, "record-archived") == (
        f"Record {recorded.audit_ids['a-pii']} is older than the live audit log: records 1 to 11 were "
        "sealed into the signed archive archive-000000000001-000000000011.manifest.json."
    )
    # The full verification and the checkpoint check continue from the anchor.
    _verify_from_the_page(recorded, sid)
    integrity = get(recorded, sid, "/ui/integrity").text
    assert text_of(integrity, "verify-status").startswith("Intact: ")
    statuses = re.findall(r'<td data-col="status" class="([a-z]*)">([^<]*)</td>', integrity)
    statuses = [(c, html.unescape(t)) for c, t in statuses]
    own = [(c, t) for c, t in statuses if t.endswith(f"the checkpoint's head at seq {size} matches")]
    assert len(own) == 1 and own[0][0] == "ok" and own[0][1].startswith("intact: "), statuses
