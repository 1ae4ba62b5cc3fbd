"""deploy/docker/Dockerfile: hadolint clean, and the properties deploy/README.md promises."""

from __future__ import annotations

import re
from pathlib import Path
from types import ModuleType

DOCKERFILE = Path(__file__).resolve().parents[2] / "deploy" / "docker" / "Dockerfile"


def test_hadolint_reports_nothing_on_the_dockerfile(validate: ModuleType) -> None:
    result = validate.hadolint(DOCKERFILE)
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")


def test_hadolint_fails_a_dockerfile_with_unpinned_images_and_packages(
    validate: ModuleType, tmp_path: Path
) -> None:
    """The check can fail: an unpinned base image, apt and pip packages are each reported."""
    bad = tmp_path / "Dockerfile"
    bad.write_text(
        "FROM python:latest\nRUN apt-get update && apt-get install -y curl\nRUN pip install requests\n"
        "CMD python app.py\n"
    )
    result = validate.hadolint(bad)
    codes = sorted(set(re.findall(r"\bDL\d{4}\b", result.stdout)))
    assert (result.returncode, codes) == (
        1,
        ["DL3007", "DL3008", "DL3009", "DL3013", "DL3015", "DL3025", "DL3042"],
    )


def test_dockerfile_is_multi_stage_non_root_with_the_pipeline_pinned_by_hash() -> None:
    text = DOCKERFILE.read_text()
    stages = re.findall(r"^FROM \S+ AS (\w+)$", text, re.M)
    users = re.findall(r"^USER (\S+)$", text, re.M)
    assert stages == ["build", "runtime"]
    assert users == ["10001:10001"]
    assert "pip install --require-hashes --no-deps -r requirements/spacy-pipeline.txt" in text
    assert re.findall(r"^HEALTHCHECK .*\n\s+CMD .*/healthz", text, re.M) != []
    assert re.findall(r"^ENTRYPOINT (.*)$", text, re.M) == ['["privacy-router", "serve"]']


def test_dockerignore_admits_only_what_the_build_copies() -> None:
    ignore = (DOCKERFILE.parent / "Dockerfile.dockerignore").read_text().split("\n")
    admitted = sorted(line[1:] for line in ignore if line.startswith("!"))
    assert admitted == [
        "MANIFEST.in",
        "README.md",
        "audit/",
        "detectors/",
        "policies/",
        "privacy_router/",
        "pyproject.toml",
        "requirements/spacy-pipeline.txt",
        "setup.py",
    ]
