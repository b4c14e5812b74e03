"""remote/images.sh run for real by dash, with a stand-in `podman` on PATH (a mock, in
addition to tests/e2e/test_images.py on the simulated host): what it pulls, undoes, records
and prunes."""

from __future__ import annotations

import subprocess
from pathlib import Path

from homelab import push

FAKE_PODMAN = """#!/bin/sh
# held images: one ref per line in $HELD; a pull of a ref listed in $BROKEN fails
echo "$*" >>"$CALLS"
case $1 in
image) grep -qxF "$3" "$HELD" ;;
pull) eval "ref=\\${$#}"
      if grep -qxF "$ref" "$BROKEN"; then echo "Error: manifest unknown" >&2; exit 125; fi
      echo "$ref" >>"$HELD" ;;
rmi) eval "ref=\\${$#}"; grep -vxF "$ref" "$HELD" >"$HELD.t" || true; mv "$HELD.t" "$HELD" ;;
esac
"""

HARNESS = """set -eu
B=$1; G=$B/generations; d=$2; M=$d/manifest.tsv; TAB=$(printf '\\t')
lines() { awk -F'\\t' -v k="$1" '$1 == k' "$2" 2>/dev/null || true; }
say() { printf '%s\\n' "$*" >&2; }
hook() { :; }
. "$3"
"""


def run(
    tmp: Path, step: str, manifest: str, held: list[str], broken: tuple[str, ...] = ()
) -> tuple[str, list[str]]:
    (tmp / "bin").mkdir(exist_ok=True)
    (tmp / "bin" / "podman").write_text(FAKE_PODMAN)
    (tmp / "bin" / "podman").chmod(0o755)
    (tmp / "held").write_text("".join(r + "\n" for r in held))
    (tmp / "broken").write_text("".join(r + "\n" for r in broken))
    d = tmp / "stage"
    d.mkdir(exist_ok=True)
    (d / "manifest.tsv").write_text(manifest)
    script = HARNESS + step + '\necho "rc=$?"; echo "err=${IMAGES_ERROR:-}"\n'
    env = {
        "PATH": f"{tmp / 'bin'}:/usr/bin:/bin",
        "HELD": str(tmp / "held"),
        "BROKEN": str(tmp / "broken"),
        "CALLS": str(tmp / "calls"),
    }
    p = subprocess.run(
        ["dash", "-c", script, "sh", str(tmp / "b"), str(d), str(push.REMOTE_DIR / "images.sh")],
        capture_output=True, text=True, env=env, check=False,
    )  # fmt: skip
    assert p.returncode == 0, p.stderr
    return p.stdout, (tmp / "held").read_text().split()


A, B_, C = "docker.io/x/a:1@sha256:aa", "docker.io/x/b:1@sha256:bb", "docker.io/x/c:1@sha256:cc"


def p_rows(*refs: str) -> str:
    return "".join(f"P\t{r}\tu.service\t30\n" for r in refs)


def test_prepare_pulls_what_is_missing_and_records_it(tmp_path: Path) -> None:
    out, held = run(tmp_path, "images_prepare || true", p_rows(A, B_), [A])
    assert "rc=0" in out and held == [A, B_]
    assert (tmp_path / "b" / "images" / "pulled").read_text().split() == [B_]
    assert "pull -q " + B_ in (tmp_path / "calls").read_text()
    assert "pull -q " + A not in (tmp_path / "calls").read_text()


def test_a_failed_pull_undoes_this_push_and_says_why_in_one_line(tmp_path: Path) -> None:
    out, held = run(tmp_path, "images_prepare || echo refused", p_rows(A, B_, C), [], broken=(C,))
    assert "refused" in out and held == []  # A and B were pulled by this push: removed again
    assert f"err=pulling {C} (for u.service) from docker.io failed: manifest unknown" in out
    assert (tmp_path / "b" / "images" / "pulled").read_text().split() == []


def test_prune_removes_only_what_homelab_pulled_and_no_kept_generation_uses(
    tmp_path: Path,
) -> None:
    b = tmp_path / "b"
    for gen, refs in (("g1", [A]), ("g2", [B_]), ("g0.failed", [C])):
        (b / "generations" / gen).mkdir(parents=True)
        (b / "generations" / gen / "manifest.tsv").write_text(p_rows(*refs))
    (b / "images").mkdir(parents=True)
    (b / "images" / "pulled").write_text(f"{A}\n{C}\n")
    other = "docker.io/someone/else:1"
    _, held = run(tmp_path, "images_prune", "", [A, B_, C, other])
    # C: pulled by homelab, used only by a failed generation -> removed. B: never pulled by
    # homelab -> kept. A: used by a kept generation -> kept.
    assert sorted(held) == sorted([A, B_, other])
    assert (b / "images" / "pulled").read_text().split() == [A]
