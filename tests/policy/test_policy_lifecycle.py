"""Hot reload (compile + own tests, atomic swap, a broken policy never replaces a working one) and
the shadow policy (compared, counted, never deciding)."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import pytest
import structlog
from prometheus_client import REGISTRY

from privacy_router.errors import ConfigError
from privacy_router.policy import lifecycle
from privacy_router.policy.embedded import EmbeddedPolicyEngine
from privacy_router.policy.failure import FAILURE_POLICY_ID, FAILURE_REASON, failure_decision
from privacy_router.policy.lifecycle import ReloadingPolicyEngine, ShadowPolicy
from privacy_router.policy.regotest import (
    RegoTestReport,
    SuiteRunFailed,
    parse_child_answer,
    run_tests,
    run_tests_in_child,
)
from privacy_router.types import Decision

from .conftest import make_input

DECISION = """package privacy_router

import rego.v1

decision := {{"action": "{action}", "backend": {backend}, "reasons": ["{action}"]}}
"""
TEST = """package privacy_router_test

import rego.v1

test_action if data.privacy_router.decision.action == "{action}"
"""


def write(root: Path, action: str, test_action: str | None = None, revision: str = "r1") -> None:
    backend = '"openai"' if action == "external" else '"vllm-a"' if action == "onprem" else "null"
    (root / "p.rego").write_text(DECISION.format(action=action, backend=backend), "utf-8")
    (root / "p_test.rego").write_text(TEST.format(action=test_action or action), "utf-8")
    (root / ".manifest").write_text(f'{{"revision": "{revision}"}}', "utf-8")


def reloads(result: str) -> float:
    value = REGISTRY.get_sample_value("privacy_router_policy_reloads_total", {"result": result})
    return value or 0.0


@pytest.fixture
def root(tmp_path: Path) -> Path:
    write(tmp_path, "onprem")
    return tmp_path


def test_reload_swaps_in_a_valid_policy_and_decisions_carry_its_identity(root: Path) -> None:
    engine = ReloadingPolicyEngine(root)
    old = engine.evaluate(make_input())
    write(root, "external", revision="r2")
    ok_before = reloads("ok")
    result = engine.reload()
    new = engine.evaluate(make_input())
    assert (result.ok, result.revision, result.error) == (True, "r2", None)
    assert (old.action, new.action) == ("onprem", "external")
    assert old.policy_info is not None and new.policy_info is not None
    assert (old.policy_info.revision, new.policy_info.revision) == ("r1", "r2")
    assert old.policy_info.files_hash != new.policy_info.files_hash == result.files_hash
    assert reloads("ok") == ok_before + 1


def test_a_policy_that_does_not_compile_never_replaces_the_working_one(root: Path) -> None:
    engine = ReloadingPolicyEngine(root)
    active = engine.info
    (root / "p.rego").write_text("package privacy_router\n\ndecision := {\n", "utf-8")
    failed_before = reloads("failed")
    with structlog.testing.capture_logs() as logs:
        result = engine.reload()
    assert [(e["event"], e["log_level"], e["active_revision"]) for e in logs] == [
        ("policy_reload_failed", "error", "r1")
    ]
    assert (
        result.ok is False
        and result.error is not None
        and result.error.endswith("failed to load: p.rego: this is unclosed; p.rego: this is unclosed")
    )
    assert engine.info == active
    assert engine.evaluate(make_input()).action == "onprem"
    assert reloads("failed") == failed_before + 1


def test_a_policy_whose_own_tests_fail_never_replaces_the_working_one(root: Path) -> None:
    engine = ReloadingPolicyEngine(root)
    write(root, "external", test_action="block", revision="r2")
    result = engine.reload()
    assert (result.ok, result.revision, result.error) == (
        False,
        "r1",
        "1 policy test(s) failed: privacy_router_test.test_action",
    )
    assert engine.evaluate(make_input()).action == "onprem"


def test_start_up_runs_the_policys_own_tests_and_refuses_a_failing_policy(tmp_path: Path) -> None:
    """No working policy to keep at start-up: a failing suite stops the start (so /readyz never says
    ready), naming the failing test."""
    write(tmp_path, "external", test_action="block")
    with pytest.raises(ConfigError) as info:
        ReloadingPolicyEngine(tmp_path)
    assert info.value.message == "1 policy test(s) failed: privacy_router_test.test_action"


def test_start_up_refuses_a_policy_whose_tests_do_not_compile(tmp_path: Path) -> None:
    write(tmp_path, "onprem")
    (tmp_path / "p_test.rego").write_text("package privacy_router_test\n\ntest_x if {\n", "utf-8")
    with pytest.raises(ConfigError, match=r"failed to load: p_test\.rego: this is unclosed"):
        ReloadingPolicyEngine(tmp_path)


def test_a_suite_that_passed_is_not_run_again_for_the_same_files(
    root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ReloadingPolicyEngine(root)  # runs the suite: passes
    calls: list[Path] = []
    monkeypatch.setattr(lifecycle, "run_tests_in_child", lambda r, t: calls.append(r) or RegoTestReport())
    ReloadingPolicyEngine(root)
    assert calls == []
    write(root, "onprem", revision="r-changed")  # any changed file: tested again
    ReloadingPolicyEngine(root)
    assert calls == [root]


# -- the suite runs in a child process: it dies, it hangs, it answers garbage ------------------------
# A test that never ends in practice: 10^8 iterations of regopy's VM, none of them true.
SLOW_TEST = """package privacy_router_test

import rego.v1

test_action if data.privacy_router.decision.action == "onprem"

test_slow if {
	some i in numbers.range(1, 10000)
	some j in numbers.range(1, 10000)
	i * j < 0
}
"""


def regotest_children() -> list[int]:
    """Pids of this process's children running the policy test child."""
    me, found = os.getpid(), []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        if ppid == me and b"privacy_router.policy.regotest" in cmdline:
            found.append(int(entry.name))
    return found


def test_the_child_reports_each_test_as_the_in_process_run_does(root: Path) -> None:
    (root / "p_test.rego").write_text(
        TEST.format(action="onprem") + '\ntest_wrong if data.privacy_router.decision.action == "block"\n',
        "utf-8",
    )
    child = run_tests_in_child(root, lifecycle.TEST_TIMEOUT_S)
    assert [(r.name, r.passed, r.error) for r in child.results] == [
        ("test_action", True, None),
        ("test_wrong", False, "undefined"),
    ]
    assert child.results == run_tests(root).results


def test_a_reload_whose_test_child_times_out_is_refused_and_the_child_is_gone(root: Path) -> None:
    engine = ReloadingPolicyEngine(root, test_timeout_s=3)
    write(root, "onprem", revision="r2")
    (root / "p_test.rego").write_text(SLOW_TEST, "utf-8")
    failed_before = reloads("failed")
    with structlog.testing.capture_logs() as logs:
        result = engine.reload()
    assert (result.ok, result.revision) == (False, "r1")
    assert result.error == "policy tests did not finish within 3 s (child process killed)"
    assert [(e["event"], e["error"]) for e in logs] == [("policy_reload_failed", result.error)]
    assert reloads("failed") == failed_before + 1
    assert engine.info.revision == "r1"
    assert regotest_children() == []


def test_a_reload_whose_test_child_is_killed_is_refused(root: Path) -> None:
    """As the kernel's OOM killer would: SIGKILL to the child while it runs the suite. The old policy
    keeps deciding."""
    engine = ReloadingPolicyEngine(root)
    write(root, "onprem", revision="r2")
    (root / "p_test.rego").write_text(SLOW_TEST, "utf-8")
    results: list[lifecycle.ReloadResult] = []
    reloading = threading.Thread(target=lambda: results.append(engine.reload()))
    reloading.start()
    deadline = time.monotonic() + 120
    while not (children := regotest_children()) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(children) == 1
    # The child offers itself to the OOM killer first, so that it dies instead of the gateway.
    adj = Path(f"/proc/{children[0]}/oom_score_adj")
    while adj.read_text().strip() != "1000" and time.monotonic() < deadline:
        time.sleep(0.05)
    assert adj.read_text().strip() == "1000"
    os.kill(children[0], signal.SIGKILL)
    reloading.join(timeout=120)
    assert [(r.ok, r.revision) for r in results] == [(False, "r1")]
    assert results[0].error is not None
    assert results[0].error.startswith("policy test child process was killed by signal SIGKILL")
    assert engine.evaluate(make_input()).action == "onprem"
    assert engine.info.revision == "r1"


def test_start_up_refuses_a_policy_whose_test_child_times_out(root: Path) -> None:
    (root / "p_test.rego").write_text(SLOW_TEST, "utf-8")
    with pytest.raises(ConfigError, match=r"^policy tests did not finish within 2 s"):
        ReloadingPolicyEngine(root, test_timeout_s=2)


@pytest.mark.parametrize(
    "answer",
    [
        "",
        "not json",
        "[]",
        '{"results": "PASS"}',
        '{"results": [["p", "test_x", "true", null]]}',
        '{"results": [["p", "test_x", true]]}',
        '{"results": [["p", "test_x", true, 1]]}',
        '{"results": [], "extra": 1}',
        '{"error": 1}',
    ],
)
def test_a_garbage_answer_from_the_child_is_a_failed_run(answer: str) -> None:
    with pytest.raises(SuiteRunFailed, match="answered garbage"):
        parse_child_answer(answer)


def test_the_childs_load_error_is_the_policys_error() -> None:
    with pytest.raises(ConfigError) as info:
        parse_child_answer('{"error": "policy folder failed to load: p.rego: this is unclosed"}')
    assert type(info.value) is ConfigError
    assert info.value.message == "policy folder failed to load: p.rego: this is unclosed"


def test_a_policy_declaring_an_external_failure_action_is_refused(root: Path) -> None:
    (root / "f.rego").write_text('package privacy_router\n\nfailure_action := "external"\n', "utf-8")
    with pytest.raises(ConfigError, match="failure_action must be"):
        ReloadingPolicyEngine(root)


def test_reload_if_changed_only_reloads_on_change(root: Path) -> None:
    engine = ReloadingPolicyEngine(root)
    assert engine.reload_if_changed() is None
    write(root, "external", revision="r3")
    result = engine.reload_if_changed()
    assert result is not None and (result.ok, result.revision) == (True, "r3")
    assert engine.reload_if_changed() is None


def test_file_watcher_picks_up_a_change(root: Path) -> None:
    engine = ReloadingPolicyEngine(root)
    engine.start(0.05)
    try:
        write(root, "external", revision="r4")
        deadline = time.monotonic() + 30
        while engine.info.revision != "r4" and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        engine.stop()
    assert engine.info.revision == "r4"


def test_sighup_reloads(root: Path) -> None:
    engine = ReloadingPolicyEngine(root)
    engine.start(0)  # no polling: only the signal can reload
    try:
        write(root, "external", revision="r5")
        os.kill(os.getpid(), signal.SIGHUP)
        deadline = time.monotonic() + 30
        while engine.info.revision != "r5" and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        engine.stop()
    assert engine.info.revision == "r5"
    assert signal.getsignal(signal.SIGHUP) is signal.SIG_DFL


def test_shadow_agreement_and_failure_never_raise(
    root: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    shadow = ShadowPolicy(EmbeddedPolicyEngine(root))
    active = Decision("onprem", "vllm-a")
    agree = shadow.compare(make_input(), active)
    assert (agree["action"], agree["agrees"], agree["error"]) == ("onprem", True, False)
    broken = tmp_path_factory.mktemp("broken")
    (broken / "p.rego").write_text('package privacy_router\n\ndecision := {"action": "teleport"}\n', "utf-8")
    failing = ShadowPolicy(EmbeddedPolicyEngine(broken)).compare(make_input(), active)
    assert (failing["action"], failing["agrees"], failing["error"]) == (None, False, True)


# -- the declared failure action (policy/failure.py): on-prem only, never external -------------------


def test_failure_action_onprem_prefers_a_healthy_backend_serving_the_model() -> None:
    policy_input = make_input(
        request={"model": "qwen-2.5-7b"},
        backends={
            "onprem": [
                {"name": "vllm-a", "healthy": True, "models": ["llama-3.1-8b"]},
                {"name": "vllm-down", "healthy": False, "models": ["qwen-2.5-7b"]},
                {"name": "vllm-b", "healthy": True, "models": ["qwen-2.5-7b"]},
            ],
            "external": [{"name": "openai", "region": "us", "healthy": True}],
        },
    )
    assert failure_decision("onprem", policy_input) == Decision(
        "onprem", "vllm-b", reasons=(FAILURE_REASON,), policy_id=FAILURE_POLICY_ID
    )


@pytest.mark.parametrize(
    ("failure_action", "onprem"),
    [
        ("block", [{"name": "vllm-a", "healthy": True, "models": []}]),
        ("onprem", [{"name": "vllm-a", "healthy": False, "models": []}]),
        ("onprem", []),
        ("onprem", "not-a-list"),
    ],
    ids=["declared-block", "onprem-unhealthy", "no-onprem", "malformed-backends"],
)
def test_failure_action_blocks_when_it_cannot_stay_onprem(failure_action: str, onprem: object) -> None:
    """None means block: a healthy external backend is never the fallback."""
    backends = {"onprem": onprem, "external": [{"name": "openai", "region": "us", "healthy": True}]}
    assert failure_decision(failure_action, make_input(backends=backends)) is None
