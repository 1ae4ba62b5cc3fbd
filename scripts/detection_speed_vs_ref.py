"""Per-document detection speed: this tree's engine against a reference commit's, in one process.

Measures the milliseconds of ``DetectionEngine.analyze([prompt])`` on ~1 KB prompts made of
consecutive documents of the presidio-research synthetic dataset (docs/accuracy.md, "Detection
speed"), for the engine of this working tree and the one of ``--ref`` (default 1834df0, the first
end-to-end engine).

The machines are shared, so wall time moves with other people's load: the figure that counts is the
process CPU time, which does not include time spent waiting for a core (wall time is printed too).
Both engines live in the same process and each round alternates which one runs first, so a change
of load or clock speed during the run falls on both alike.

The reference is exported with ``git archive <ref> | tar -x`` into a temporary directory and its
package renamed ``privacy_router_ref`` (imports rewritten), so both can be imported at once. It stays
next to the exported ``detectors/``, where its ``resource_dir()`` looks, so it loads its own packs.

    .venv/bin/python scripts/detection_speed_vs_ref.py [--ref 1834df0] [--rounds 3] [--passes 2]
        [--prompts 100] [--dataset PATH] [--out results.json]
"""

from __future__ import annotations

import argparse
import gc
import importlib
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

import privacy_router
from privacy_router.config import DetectionSettings
from privacy_router.detection.engine import DetectionEngine

REPO = Path(__file__).resolve().parent.parent
DATASET = REPO.parent / "shared/benchmarks/detection/presidio-research/synth_dataset_v2.json"
REF_PACKAGE = "privacy_router_ref"
# Import statements only: strings such as policy ids or logger names keep their old text.
_IMPORT = re.compile(r"^(\s*(?:from|import)\s+)privacy_router\b", re.MULTILINE)


class Engine(Protocol):
    spacy_model: str
    pack_versions: dict[str, str]

    def analyze(self, texts: list[str]) -> list[list[Any]]: ...


@dataclass
class Timings:
    cpu: list[float] = field(default_factory=list)
    wall: list[float] = field(default_factory=list)
    rounds: list[dict[str, Any]] = field(default_factory=list)


def git(*args: str) -> str:
    done = subprocess.run(["git", "-C", str(REPO), *args], capture_output=True, text=True, check=False)
    if done.returncode:
        raise SystemExit(f"git {' '.join(args)}: {done.stderr.strip()}")
    return done.stdout.strip()


def export_ref(ref: str, dest: Path) -> Path:
    """Extract `ref` into dest and rename its package to privacy_router_ref; return the package dir."""
    with subprocess.Popen(["git", "-C", str(REPO), "archive", ref], stdout=subprocess.PIPE) as archive:
        tar = subprocess.run(["tar", "-x", "-C", str(dest)], stdin=archive.stdout, check=False)
    if archive.returncode or tar.returncode:
        raise SystemExit(f"git archive {ref} | tar -x failed")
    package = (dest / "privacy_router").rename(dest / REF_PACKAGE)
    for path in package.rglob("*.py"):
        path.write_text(_IMPORT.sub(rf"\1{REF_PACKAGE}", path.read_text()))
    return package


def build_prompts(dataset: Path, n: int) -> list[str]:
    """~1 KB prompts of consecutive documents, exactly as docs/accuracy.md builds them."""
    docs = [d["full_text"] for d in json.loads(dataset.read_text())]
    prompts: list[str] = []
    cur: list[str] = []
    i = 0
    while len(prompts) < n:
        cur.append(docs[i % len(docs)])
        i += 1
        if sum(len(c) + 1 for c in cur) >= 1000:
            prompts.append("\n".join(cur))
            cur = []
    return prompts


def p95(xs: list[float]) -> float:
    s = sorted(xs)
    return s[int(0.95 * len(s))]


def stats(xs: list[float]) -> dict[str, float]:
    return {"mean": statistics.mean(xs), "median": statistics.median(xs), "p95": p95(xs)}


def brief(s: dict[str, float]) -> str:
    return f"mean {s['mean']:.1f} median {s['median']:.1f} p95 {s['p95']:.1f}"


def run_block(engine: Engine, prompts: list[str], passes: int) -> tuple[list[float], list[float]]:
    """CPU and wall ms of engine.analyze([p]) for every prompt, `passes` times."""
    cpu: list[float] = []
    wall: list[float] = []
    gc.collect()
    for _ in range(passes):
        for p in prompts:
            c0 = time.process_time()
            w0 = time.perf_counter()
            engine.analyze([p])
            w1 = time.perf_counter()
            c1 = time.process_time()
            cpu.append((c1 - c0) * 1000)
            wall.append((w1 - w0) * 1000)
    return cpu, wall


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ref", default="1834df0", help="reference commit (default: the end-to-end engine)")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--passes", type=int, default=2, help="passes over the prompts per engine and round")
    ap.add_argument("--prompts", type=int, default=100)
    ap.add_argument("--dataset", type=Path, default=DATASET)
    ap.add_argument("--out", type=Path, help="write the raw per-call times here as JSON")
    args = ap.parse_args()

    if not Path(privacy_router.__file__).is_relative_to(REPO):
        raise SystemExit(f"privacy_router is imported from {privacy_router.__file__}, not from {REPO}")
    head = git("rev-parse", "--short", "HEAD")
    ref = git("rev-parse", "--short", f"{args.ref}^{{commit}}")

    with tempfile.TemporaryDirectory() as tmp:
        ref_package = export_ref(ref, Path(tmp))
        sys.path.append(tmp)
        ref_config = importlib.import_module(f"{REF_PACKAGE}.config")
        ref_engine = importlib.import_module(f"{REF_PACKAGE}.detection.engine")
        ref_packs = importlib.import_module(f"{REF_PACKAGE}.resources").resource_dir("detectors")
        if not ref_packs.is_relative_to(tmp):
            raise SystemExit(f"the reference engine would read {ref_packs}, not its own packs")
        print(f"new: {Path(privacy_router.__file__).parent} (HEAD {head} + working tree)")
        print(f"ref: {ref_package} packs {ref_packs} ({ref})")

        prompts = build_prompts(args.dataset, args.prompts)
        lens = [len(p) for p in prompts]
        print(
            f"prompts: {len(prompts)}, chars mean {statistics.mean(lens):.0f} min {min(lens)} max {max(lens)}"
        )

        engines: dict[str, Engine] = {}
        builders = (
            ("ref", lambda: ref_engine.DetectionEngine.from_settings(ref_config.DetectionSettings())),
            ("new", lambda: DetectionEngine.from_settings(DetectionSettings())),
        )
        for name, build in builders:
            c0, w0 = time.process_time(), time.perf_counter()
            engines[name] = build()
            print(
                f"{name}: built in {time.process_time() - c0:.1f} s CPU / {time.perf_counter() - w0:.1f} s "
                f"wall; spacy_model={engines[name].spacy_model}; packs={engines[name].pack_versions}"
            )

        # Warm-up: 10 prompts each; also a sanity count of findings so a broken engine is visible.
        for name, eng in engines.items():
            found = sum(len(f) for f in eng.analyze(prompts[:10]))
            for p in prompts[:10]:
                eng.analyze([p])
            print(f"{name}: warm-up done, {found} findings on the first 10 prompts")

        results = {name: Timings() for name in engines}
        for r in range(args.rounds):
            order = ["ref", "new"] if r % 2 == 0 else ["new", "ref"]
            for name in order:
                cpu, wall = run_block(engines[name], prompts, args.passes)
                results[name].cpu.extend(cpu)
                results[name].wall.extend(wall)
                c, w, load = stats(cpu), stats(wall), os.getloadavg()[0]
                results[name].rounds.append({"cpu": c, "wall": w, "load1": load})
                print(
                    f"round {r + 1} {name}: CPU {brief(c)} | wall {brief(w)} ms | load1 {load:.2f}",
                    flush=True,
                )

    print()
    print("| engine | metric | mean (ms) | median (ms) | p95 (ms) | per-round means | per-round medians |")
    print("|---|---|---:|---:|---:|---|---|")
    summary = {}
    for name, label in (("ref", f"reference ({ref})"), ("new", f"working tree ({head})")):
        for metric in ("cpu", "wall"):
            times: list[float] = getattr(results[name], metric)
            s = stats(times)
            summary[(name, metric)] = s
            means = ", ".join(f"{x[metric]['mean']:.1f}" for x in results[name].rounds)
            meds = ", ".join(f"{x[metric]['median']:.1f}" for x in results[name].rounds)
            figures = f"{s['mean']:.1f} | {s['median']:.1f} | {s['p95']:.1f}"
            print(f"| {label} | {metric} | {figures} | {means} | {meds} |")
    for metric in ("cpu", "wall"):
        o, n = summary[("ref", metric)], summary[("new", metric)]
        print(
            f"ratio new/ref {metric}: mean {n['mean'] / o['mean']:.3f}, "
            f"median {n['median'] / o['median']:.3f}, p95 {n['p95'] / o['p95']:.3f}"
        )
    packs = {name: eng.pack_versions for name, eng in engines.items()}
    print(f"HEAD {head}; ref {ref}; packs {packs}")

    if args.out:
        record = {
            "head": head,
            "ref": ref,
            "packs": packs,
            "prompt_chars": lens,
            "results": {name: asdict(t) for name, t in results.items()},
        }
        args.out.write_text(json.dumps(record))
        print(f"raw per-call times: {args.out}")


if __name__ == "__main__":
    main()
