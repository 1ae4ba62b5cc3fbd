"""The dashboard in a real browser (headless Chromium) against a gateway with recorded traffic
(tests/api/test_audit_api.py: 6 requests on 2026-03-02..04, seqs 1..11). Screenshots go to docs/img/."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Error as PlaywrightError

from privacy_router.audit.merkle import inclusion_proof, leaf_hash, root, verify_inclusion
from privacy_router.audit.sqlite import SqliteAuditStore
from privacy_router.ui import routes, verify_job
from privacy_router.ui.routes import CSP
from privacy_router.ui.session import COOKIE
from tests.api.test_audit_api import CLIENT_A, COMPLIANCE, SENSITIVE_VALUES, Recorded, audit_queries
from tests.ui.conftest import (
    CHECKPOINT_SIZE,
    ORIGIN,
    OTHER_ORIGIN,
    SCREENSHOTS,
    SHADOW_DAY,
    archive_the_checkpointed_records,
    cli_economics,
    priced,
)

RANGE = "from=2026-03-02&to=2026-03-04"
API_RANGE = {"since": "2026-03-02", "until": "2026-03-05"}


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    """A fresh browser context; fails the test on any console error (a CSP violation is one)."""
    context = browser.new_context(accept_downloads=True, viewport={"width": 1360, "height": 900})
    pg = context.new_page()
    errors: list[str] = []
    pg.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    pg.on("pageerror", lambda exc: errors.append(str(exc)))
    yield pg
    context.close()
    assert errors == []


def sign_in(page: Any, rec: Recorded, key: str = COMPLIANCE) -> None:
    page.goto(f"{rec.url}/ui/login")
    page.fill("input[name=key]", key)
    page.click("button[type=submit]")


def shot(page: Any, name: str) -> None:
    page.screenshot(path=str(SCREENSHOTS / name), full_page=True)


def ui_queries(rec: Recorded) -> list[dict[str, Any]]:
    return [q for q in audit_queries(rec) if q["surface"] == "ui"]


def test_sign_in_keeps_the_session_in_a_strict_httponly_cookie(page: Any, recorded: Recorded) -> None:
    page.goto(f"{recorded.url}/ui/overview")
    assert page.url == f"{recorded.url}/ui/login"
    shot(page, "login.png")
    sign_in(page, recorded)
    assert page.url == f"{recorded.url}/ui/overview"
    assert page.text_content("[data-testid=who]") == "compliance-desk · acme-health"
    cookies = {c["name"]: c for c in page.context.cookies()}
    session = cookies[COOKIE]
    assert (session["httpOnly"], session["sameSite"], session["path"]) == (True, "Strict", "/ui")
    assert COMPLIANCE not in json.dumps(list(cookies.values()))
    assert ui_queries(recorded)[-2]["operation"] == "sign_in"


def test_a_client_key_cannot_sign_in(browser: Any, recorded: Recorded) -> None:
    # Its own context: the 403 answer is logged by Chromium as a console error, which the page
    # fixture would (rightly, elsewhere) count as a failure.
    context = browser.new_context()
    page = context.new_page()
    try:
        sign_in(page, recorded, CLIENT_A)
        assert page.url == f"{recorded.url}/ui/login"
        assert page.text_content("[data-testid=login-error]") == "this key has no compliance role"
        assert COOKIE not in {c["name"] for c in context.cookies()}
    finally:
        context.close()


def test_overview_numbers_equal_the_api_stats(page: Any, recorded: Recorded) -> None:
    sign_in(page, recorded)
    page.goto(f"{recorded.url}/ui/overview?{RANGE}")
    page.wait_for_selector("canvas[data-rendered='4']")  # Chart.js drew the four routes
    api = recorded.get("/v1/audit/stats", **API_RANGE).json()
    kpis = {
        k: page.text_content(f"[data-testid=kpi-{k}]") for k in ("requests", "left", "blocked", "fail-closed")
    }
    assert kpis == {
        "requests": str(api["requests"]),
        "left": str(api["left_premises"]),
        "blocked": str(api["blocked"]),
        "fail-closed": str(api["fail_closed"]),
    }
    assert kpis == {"requests": "6", "left": "3", "blocked": "1", "fail-closed": "1"}
    assert page.text_content("[data-testid=kpi-left-share]") == "50.0"
    by_day = {
        day: {
            r: int(page.text_content(f"tr[data-day='{day}'] td[data-route='{r}']")) for r in api["by_action"]
        }
        for day in api["by_day"]
    }
    assert by_day == {
        day: {r: api["by_day"][day].get(r, 0) for r in api["by_action"]} for day in api["by_day"]
    }
    entities = {
        name: int(page.text_content(f"[data-testid=by-entity-type] td[data-name='{name}']"))
        for name in api["by_entity_type"]
    }
    assert entities == api["by_entity_type"] == {"MEDICAL_RECORD_NUMBER": 2, "EMAIL_ADDRESS": 1, "PERSON": 1}
    shot(page, "overview.png")


def test_a_filter_narrows_the_table(page: Any, recorded: Recorded) -> None:
    sign_in(page, recorded)
    page.goto(f"{recorded.url}/ui/records?to=2026-03-04")
    all_seqs = page.eval_on_selector_all(
        "[data-testid=records] tr[data-seq]", "rows => rows.map(r => r.dataset.seq)"
    )
    assert all_seqs == [str(s) for s in range(1, 12)]
    before = len(ui_queries(recorded))
    page.fill("input[name=tenant]", "beta-corp")
    page.click("form.filter button[type=submit]")
    page.wait_for_url("**tenant=beta-corp**")
    seqs = page.eval_on_selector_all(
        "[data-testid=records] tr[data-seq]", "rows => rows.map(r => r.dataset.seq)"
    )
    assert seqs == ["7", "8", "9", "10"]
    new = ui_queries(recorded)[before:]
    assert [(q["operation"], q["filters"], q["rows"]) for q in new] == [
        ("ui.records", {"tenant": "beta-corp", "until": "2026-03-05T00:00:00.000Z"}, 4)
    ]
    shot(page, "records.png")


def test_the_detail_view_shows_the_hash_and_the_neighbours(page: Any, recorded: Recorded) -> None:
    sign_in(page, recorded)
    page.goto(f"{recorded.url}/ui/records?to=2026-03-04&record_type=decision")
    page.click("tr[data-seq='3'] a")
    api = recorded.get(f"/v1/audit/records/{recorded.audit_ids['a-pii']}").json()
    assert page.text_content("[data-testid=record-id]") == recorded.audit_ids["a-pii"]
    assert page.text_content("[data-testid=entry-hash]") == api["record"]["entry_hash"]
    assert page.text_content("[data-testid=prev-hash]") == api["chain"]["previous"]["entry_hash"]
    assert page.text_content("tr[data-neighbour=previous] a") == "2"
    assert page.text_content("tr[data-neighbour=next] a") == "4"
    assert page.text_content("[data-testid=entity-types]") == "EMAIL_ADDRESS, PERSON"
    html = page.content()
    for value in SENSITIVE_VALUES:
        assert value not in html


def test_an_export_downloads_the_same_rows_as_the_api(page: Any, recorded: Recorded, tmp_path: Path) -> None:
    sign_in(page, recorded)
    page.goto(f"{recorded.url}/ui/export?tenant=acme-health&to=2026-03-04")
    shot(page, "export.png")
    with page.expect_download() as info:
        page.click("[data-testid=export-jsonl]")
    target = tmp_path / "export.jsonl"
    info.value.save_as(target)
    api = recorded.get("/v1/audit/export", format="jsonl", tenant="acme-health", until="2026-03-05")
    assert target.read_text() == api.text
    assert [json.loads(line)["seq"] for line in target.read_text().splitlines()] == [1, 2, 3, 4, 5, 6, 11]
    assert ui_queries(recorded)[-1]["operation"] == "ui.export.jsonl"
    assert ui_queries(recorded)[-1]["rows"] == 7


def test_full_verification_from_the_integrity_page(page: Any, recorded: Recorded) -> None:
    sign_in(page, recorded)
    page.goto(f"{recorded.url}/ui/integrity")
    rows = sum(1 for _ in recorded.gw.audit.iter_rows())
    page.click("[data-testid=verify-button]")
    verification_result(page, recorded)  # the job ran, the page script reloaded the page
    assert page.text_content("[data-testid=verify-status]") == f"Intact: {rows} records verified"
    head = next(iter(recorded.gw.audit.iter_rows(rows))).entry_hash.hex()
    assert page.text_content("[data-testid=head-hash]") == head
    assert checkpoint_table(page) == {
        ORIGIN: {
            "size": str(CHECKPOINT_SIZE),
            "head": row_hash(recorded, CHECKPOINT_SIZE),
            "time": "2026-03-04T18:00:00.000Z",
            "age": "2 h 5 min",
            "signature": "verified",
            "status": f"intact: {rows} records, the checkpoint's head at seq 11 matches",
        },
        OTHER_ORIGIN: {
            "size": "3",
            "head": row_hash(recorded, 3),
            "time": "2026-03-04T18:00:00.000Z",
            "age": "2 h 5 min",
            "signature": "verified",
            "status": "another log: verify it where it is stored",
        },
    }
    store = recorded.gw.audit
    assert isinstance(store, SqliteAuditStore)
    (writer,) = [w.writer for w in store.writer_status()]  # one gateway wrote this log
    shown = page.eval_on_selector_all(
        "[data-testid=writers] tr[data-writer]",
        "rows => rows.map(r => [r.dataset.writer, r.querySelector('[data-col=records]').textContent,"
        " r.querySelector('[data-col=status]').textContent])",
    )
    # As read inside the verification: before its own audit_query record was appended.
    assert shown == [[writer, str(rows), f"intact: its {rows} records (seq 1 to {rows}) verified"]]
    assert len(shown) == 1  # one gateway wrote this log
    shot(page, "integrity.png")


def test_the_full_verification_shows_its_progress_while_it_runs(
    page: Any, recorded: Recorded, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Slowed to 0.1 s a record, the job's percentage climbs on the page (polled JSON, no reload)."""

    def slow_rows(store: Any, start: int) -> Iterator[Any]:
        for row in store.iter_rows(start):
            time.sleep(0.1)
            yield row

    monkeypatch.setattr(verify_job, "rows_of", slow_rows)
    sign_in(page, recorded)
    page.goto(f"{recorded.url}/ui/integrity")
    page.click("[data-testid=verify-button]")
    page.wait_for_selector("[data-testid=verify-bar]")
    seen: list[int] = []
    for _ in range(2000):
        try:
            text = page.text_content("[data-testid=verify-percent]", timeout=2000) or ""
        except PlaywrightError:  # gone: the script reloaded the page with the result
            break
        if text.endswith("%") and (not seen or int(text[:-1]) != seen[-1]):
            seen.append(int(text[:-1]))
            if len(seen) == 3:
                shot(page, "integrity-progress.png")
        page.wait_for_timeout(50)
    verification_result(page, recorded)
    assert seen == sorted(seen) and len(seen) >= 3, seen  # several distinct, rising percentages
    # 100% may show for a moment before the script reloads the page with the result.
    assert all(0 <= p <= 100 for p in seen)
    assert page.text_content("[data-testid=verify-status]").startswith("Intact: ")


def test_a_job_that_ends_while_the_page_renders_shows_its_result(
    page: Any, recorded: Recorded, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The page opened on a job that ends while the page is being built shows that job's result:
    not the "not verified" text with nothing left to poll, nor an earlier job's result. Reading the
    checkpoint folder for the page (not for the job) is slowed by 0.5 s so the job ends inside that
    window, as it now and then does on a loaded machine."""
    checkpoints = routes._checkpoints

    def slow_page_read(gw: Any) -> Any:
        if threading.current_thread().name != "ui-verify":
            time.sleep(0.5)
        return checkpoints(gw)

    sign_in(page, recorded)
    page.goto(f"{recorded.url}/ui/integrity")
    rows = sum(1 for _ in recorded.gw.audit.iter_rows())  # an earlier job verified fewer
    monkeypatch.setattr(routes, "_checkpoints", slow_page_read)
    page.click("[data-testid=verify-button]")
    verification_result(page, recorded)
    assert page.text_content("[data-testid=verify-status]") == f"Intact: {rows} records verified"
    assert page.text_content("[data-testid=head-hash]") == row_hash(recorded, rows)


VERIFY_DONE = "[data-testid=head-hash], [data-testid=verify-status][data-state=failed]"


def verification_result(page: Any, rec: Recorded) -> None:
    """Wait for the page to show the verification's result (the head hash) and fail naming why when
    it shows a failed job instead, or shows neither in time (where the page is, what it says, and
    the job's progress as the gateway answers it)."""
    try:
        page.wait_for_selector(VERIFY_DONE)
    except PlaywrightError as exc:
        raise AssertionError(
            f"no verification result: {exc.message.splitlines()[0]}; {page_state(page, rec)}"
        ) from None
    if page.query_selector("[data-testid=head-hash]") is None:
        raise AssertionError(f"the verification failed; {page_state(page, rec)}")


def page_state(page: Any, rec: Recorded) -> str:
    status = page.query_selector("[data-testid=verify-status]")
    text = status.text_content() if status is not None else None
    job = page.url.partition("job=")[2]
    sid = next((c["value"] for c in page.context.cookies() if c["name"] == COOKIE), None)
    progress = "no job in the URL"
    if job and sid:
        r = httpx.get(f"{rec.url}/ui/integrity/verify/{job}", cookies={COOKIE: sid}, timeout=10)
        progress = f"{r.status_code} {r.text}"
    return f"page {page.url}, verify-status {text!r}, job progress {progress}"


def row_hash(rec: Recorded, seq: int) -> str:
    return next(iter(rec.gw.audit.iter_rows(seq))).entry_hash.hex()


def checkpoint_table(page: Any) -> dict[str, dict[str, str]]:
    cols = ("size", "head", "time", "age", "signature", "status")
    return {
        origin: {c: page.text_content(f"tr[data-origin='{origin}'] [data-col={c}]") for c in cols}
        for origin in page.eval_on_selector_all(
            "[data-testid=checkpoints] tr[data-origin]", "rows => rows.map(r => r.dataset.origin)"
        )
    }


def test_the_integrity_page_shows_the_newest_checkpoint_of_each_log(page: Any, recorded: Recorded) -> None:
    """Read from the checkpoint folder: size 11 (not the older 5), its head, time, age and signature;
    the chain is only checked against it by a full verification."""
    sign_in(page, recorded)
    before = len(audit_queries(recorded))
    page.goto(f"{recorded.url}/ui/integrity")
    table = checkpoint_table(page)
    assert list(table) == sorted([ORIGIN, OTHER_ORIGIN])
    shown = {o: {k: v for k, v in row.items() if k != "status"} for o, row in table.items()}
    assert shown[ORIGIN] == {
        "size": "11",
        "head": row_hash(recorded, 11),
        "time": "2026-03-04T18:00:00.000Z",
        "age": "2 h 5 min",
        "signature": "verified",
    }
    assert shown[OTHER_ORIGIN]["size"] == "3"
    assert len(audit_queries(recorded)) == before  # reading checkpoint files reads no records


def test_the_detail_view_shows_the_inclusion_proof(page: Any, recorded: Recorded) -> None:
    sign_in(page, recorded)
    page.goto(f"{recorded.url}/ui/records/{recorded.audit_ids['a-pii']}")
    hashes = [leaf_hash(r.canon) for r in list(recorded.gw.audit.iter_rows())[:CHECKPOINT_SIZE]]
    assert page.text_content("[data-testid=proof-status]") == (
        "Verified: record seq 3 is included in privacy-router/audit/sqlite/dashboard-demo at size 11"
    )
    assert page.text_content("[data-testid=leaf-index]") == "2"
    assert page.text_content("[data-testid=tree-size]") == "11"
    assert page.text_content("[data-testid=leaf-hash]") == hashes[2].hex()
    assert page.text_content("[data-testid=merkle-root]") == root(hashes).hex()
    path = page.eval_on_selector_all("[data-testid=proof-path] code", "cs => cs.map(c => c.textContent)")
    assert path == [h.hex() for h in inclusion_proof(2, hashes)]
    assert len(path) == 4  # 11 leaves: three levels inside the left 8, then the right subtree of 3
    # The path shown is itself a proof: it folds from the shown leaf hash to the shown root.
    shown = [bytes.fromhex(h) for h in path]
    assert verify_inclusion(2, 11, hashes[2], shown, root(hashes)) is True
    assert verify_inclusion(2, 11, hashes[3], shown, root(hashes)) is False
    html = page.content()
    for value in SENSITIVE_VALUES:
        assert value not in html
    assert ui_queries(recorded)[-1]["operation"] == "ui.record"
    shot(page, "record.png")


def test_a_record_after_the_checkpoint_has_no_proof_yet(page: Any, recorded: Recorded) -> None:
    sign_in(page, recorded)
    newest = list(recorded.gw.audit.iter_rows())[-1]  # the sign-in's own audit_query record
    page.goto(f"{recorded.url}/ui/records/{json.loads(newest.canon)['record_id']}")
    assert page.text_content("[data-testid=proof-status]") == (
        "not yet covered: the last checkpoint covers records 1 to 11"
    )


def test_the_policy_page_shows_which_revision_decided(page: Any, recorded: Recorded) -> None:
    sign_in(page, recorded)
    page.goto(f"{recorded.url}/ui/policy?{RANGE}")
    assert page.text_content("[data-testid=loaded-revision]") == recorded.gw.policy.info.revision
    cells = page.eval_on_selector_all(
        "[data-testid=policy-runs] tbody tr, [data-testid=policy-runs] tr:not(:first-child)",
        "rows => rows.map(r => r.querySelector('td.num') && r.querySelector('td.num').textContent)",
    )
    assert [c for c in cells if c is not None] == ["6"]
    assert page.text_content("[data-testid=shadow-none]") == (
        "Shadow mode is off (set policy.shadow_dir; policies/README.md) and no decision in this range "
        "carries a shadow verdict."
    )


def test_the_policy_page_shows_shadow_mode_disagreements(page: Any, recorded: Recorded) -> None:
    """Seqs 12..14 carry shadow verdicts: 13 (candidate: external) and 14 (candidate failed) disagree."""
    sign_in(page, recorded)
    page.goto(f"{recorded.url}/ui/policy?{SHADOW_DAY}")
    counts = {
        k: page.text_content(f"[data-testid=shadow-{k}]") for k in ("shadowed", "disagreements", "errors")
    }
    assert counts == {"shadowed": "3", "disagreements": "2", "errors": "1"}
    revision = recorded.gw.policy.info.revision
    latest = page.eval_on_selector_all(
        "[data-testid=shadow-latest] tr[data-seq]",
        "rows => rows.map(r => [r.dataset.seq, r.querySelector('[data-col=active]').textContent,"
        " r.querySelector('[data-col=shadow]').textContent])",
    )
    assert latest == [
        ["14", f"blocked · {revision}", "failed to evaluate · 2026.4.0-rc1"],
        ["13", f"on-prem (vllm) · {revision}", "external (openai) · 2026.4.0-rc1"],
    ]
    assert [(q["operation"], q["rows"]) for q in ui_queries(recorded)[-1:]] == [("ui.policy", 3)]
    shot(page, "policy.png")


def test_the_economics_page_shows_the_totals_of_the_cli_report(
    page: Any, recorded: Recorded, tmp_path: Path
) -> None:
    """The officer's view of `privacy-router report economics` for the range, priced as the CLI is:
    the totals row and the KPIs read exactly as the command prints them, and the chart is drawn."""
    recorded.gw.settings = priced(recorded.gw.settings)
    _, text = cli_economics(recorded, tmp_path, "2026-03-02", "2026-03-04")
    sign_in(page, recorded)
    page.goto(f"{recorded.url}/ui/economics?{RANGE}")
    chart = json.loads(page.get_attribute("#cost-chart", "data-chart") or "")
    drawn = str(len(chart["series"]) + len(chart["marks"]))
    page.wait_for_selector(f"#cost-chart[data-rendered='{drawn}']")  # Chart.js drew lines and marks
    totals = page.eval_on_selector_all(
        "[data-testid=economics-lines] tr[data-route=all] td", "cells => cells.map(c => c.textContent)"
    )
    (printed,) = [line.split() for line in text if line.startswith("all ")]
    assert totals == printed  # route, backend, requests, tokens in and out, API spend, on-prem, per 1k
    assert int(totals[2]) == 5
    kpis = {k: page.text_content(f"[data-testid=kpi-{k}]") for k in ("served", "blocked", "onprem-share")}
    assert f"blocked: {kpis['blocked']}" in text
    assert f"kept on-prem: {kpis['onprem-share']} of served requests" in text
    assert (kpis["served"], page.text_content("[data-testid=kpi-api-spend]")) == (totals[2], totals[5])
    assert page.text_content("[data-testid=kpi-onprem-cost]") == totals[6]
    steps = page.eval_on_selector_all("[data-testid=crossover] li", "items => items.map(i => i.textContent)")
    start = text.index("crossover (moving the external share on-prem):") + 1
    assert steps == [line.removeprefix("  ") for line in text[start:] if line.startswith("  ")]
    assert [(q["operation"], q["rows"]) for q in ui_queries(recorded)[-1:]] == [("ui.economics", 6)]
    shot(page, "economics.png")


# -- HTTP-level guarantees (no browser needed, same gateway) ---------------------------------------


def _session_cookie(rec: Recorded) -> str:
    with httpx.Client(base_url=rec.url, follow_redirects=False) as client:
        login = client.get("/ui/login")
        token = login.text.split('name="csrf" value="')[1].split('"')[0]
        r = client.post("/ui/login", data={"csrf": token, "key": COMPLIANCE})
        assert r.status_code == 303
        return r.cookies[COOKIE]


def test_every_page_carries_the_strict_csp(recorded: Recorded) -> None:
    sid = _session_cookie(recorded)
    pages = ("/ui/login", "/ui/overview", "/ui/records", "/ui/integrity", "/ui/policy", "/ui/economics")
    for path in (*pages, "/ui/export"):
        r = httpx.get(recorded.url + path, cookies={COOKIE: sid})
        assert (r.status_code, r.headers["content-security-policy"]) == (200, CSP), path
        assert "<script>" not in r.text and " style=" not in r.text and "onclick" not in r.text


def test_a_form_without_its_csrf_token_is_refused(recorded: Recorded) -> None:
    sid = _session_cookie(recorded)
    before = len(audit_queries(recorded))
    r = httpx.post(f"{recorded.url}/ui/integrity/verify", data={"csrf": "forged"}, cookies={COOKIE: sid})
    assert r.status_code == 403
    assert len(audit_queries(recorded)) == before


def test_signed_out_pages_redirect_to_sign_in(recorded: Recorded) -> None:
    for path in ("/ui/overview", "/ui/records", "/ui/export?format=csv"):
        r = httpx.get(recorded.url + path, cookies={COOKIE: "not-a-session"})
        assert (r.status_code, r.headers["location"]) == (303, "/ui/login"), path


def _csrf(rec: Recorded, sid: str) -> str:
    page = httpx.get(f"{rec.url}/ui/integrity", cookies={COOKIE: sid})
    return page.text.split('name="csrf" value="')[1].split('"')[0]


def test_the_verification_job_reports_progress_as_json_and_is_audited(recorded: Recorded) -> None:
    sid = _session_cookie(recorded)
    before = len(audit_queries(recorded))
    r = httpx.post(
        f"{recorded.url}/ui/integrity/verify",
        data={"csrf": _csrf(recorded, sid)},
        cookies={COOKIE: sid},
        headers={"origin": recorded.url},
    )
    assert r.status_code == 303 and r.headers["location"].startswith("/ui/integrity?job=")
    job_id = r.headers["location"].split("job=")[1]
    deadline = time.monotonic() + 60
    progress = httpx.get(f"{recorded.url}/ui/integrity/verify/{job_id}", cookies={COOKIE: sid}).json()
    while progress["state"] == "running" and time.monotonic() < deadline:
        time.sleep(0.05)
        progress = httpx.get(f"{recorded.url}/ui/integrity/verify/{job_id}", cookies={COOKIE: sid}).json()
    verified = [q for q in audit_queries(recorded)[before:] if q["operation"] == "ui.verify"]
    assert len(verified) == 1
    assert progress == {
        "id": job_id,
        "state": "done",
        "percent": 100,
        "checked": verified[0]["rows"],
        "total": verified[0]["rows"],
        "error": None,
    }


def test_the_progress_endpoint_needs_a_session_and_a_known_job(recorded: Recorded) -> None:
    r = httpx.get(f"{recorded.url}/ui/integrity/verify/abc", cookies={COOKIE: "not-a-session"})
    assert (r.status_code, r.json(), r.headers["content-security-policy"]) == (
        401,
        {"error": "not signed in"},
        CSP,
    )
    sid = _session_cookie(recorded)
    r = httpx.get(f"{recorded.url}/ui/integrity/verify/abc", cookies={COOKIE: sid})
    assert (r.status_code, r.json()) == (404, {"error": "no such verification"})


# -- after `privacy-router audit archive` (last: it seals records 1..11 of this module's log) ---------


def test_after_an_archive_a_live_record_is_proved_and_an_archived_one_is_named(
    page: Any, recorded: Recorded, tmp_path: Path
) -> None:
    log = archive_the_checkpointed_records(recorded, tmp_path / "archive")
    manifest = "archive-000000000001-000000000011.manifest.json"
    sign_in(page, recorded)
    # A live record: its proof is built from the archive's anchor and is the path over the whole log.
    seq = CHECKPOINT_SIZE + 2
    page.goto(f"{recorded.url}/ui/records/{log.ids[seq]}")
    assert page.text_content("[data-testid=proof-status]") == (
        f"Verified: record seq {seq} is included in {ORIGIN} at size {log.size}"
    )
    path = page.eval_on_selector_all("[data-testid=proof-path] code", "cs => cs.map(c => c.textContent)")
    assert path == [h.hex() for h in inclusion_proof(seq - 1, log.hashes)]
    assert page.text_content("[data-testid=merkle-root]") == root(log.hashes).hex()
    shot(page, "record-after-archive.png")
    # The first live record says where its previous record went.
    page.goto(f"{recorded.url}/ui/records/{log.ids[CHECKPOINT_SIZE + 1]}")
    assert (page.text_content("[data-testid=previous-archived]") or "").startswith(f"archived in {manifest}")
    # An archived record's id: the archived-record page, not "not found".
    page.goto(f"{recorded.url}/ui/records/{recorded.audit_ids['a-pii']}")
    assert page.text_content("h1") == "Archived record"
    assert page.text_content("[data-testid=record-archived]") == (
        f"Record {recorded.audit_ids['a-pii']} is older than the live audit log: records 1 to 11 were "
        f"sealed into the signed archive {manifest}."
    )
    assert page.text_content("[data-testid=anchor-head]") == log.anchor_head
    shot(page, "record-archived.png")
