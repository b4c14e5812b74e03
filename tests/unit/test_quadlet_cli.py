"""`python -m homelab quadlet check|fmt` as a user runs it (a real subprocess)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "homelab", "quadlet", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )


def test_check_prints_file_line_message_and_fails(tmp_path):
    f = tmp_path / "x.container"
    f.write_text("[Container]\nImage=docker.io/a/b:1\n\n\n\n\nImgae=docker.io/a/b:2\n")
    proc = _run("check", "--no-generator", str(f))
    assert proc.returncode == 1
    assert proc.stdout == f"{f}:7: unknown key 'Imgae' in [Container]; did you mean 'Image'?\n"


def test_check_parse_error_fails(tmp_path):
    f = tmp_path / "x.container"
    f.write_text('[Container]\nImage=docker.io/a/b:1\nExec=sh -c "oops\n')
    proc = _run("check", "--no-generator", str(f))
    assert proc.returncode == 1
    assert proc.stdout.startswith(f"{f}:3: Exec: unterminated quote")


def test_check_clean_files_pass_with_the_real_generator():
    files = sorted(str(p) for p in (REPO / "containers").glob("*.container"))
    assert files
    proc = _run("check", *files)
    assert (proc.returncode, proc.stdout) == (0, ""), proc.stdout + proc.stderr


def test_fmt_prints_canonical_text(tmp_path):
    f = tmp_path / "x.container"
    f.write_text("[Container]\nImage=docker.io/a/b:1   \nExec=a \\\n  b\n\n\n")
    proc = _run("fmt", str(f))
    assert proc.returncode == 0
    assert proc.stdout == "[Container]\nImage=docker.io/a/b:1\nExec=a b\n"


def test_fmt_reports_parse_errors(tmp_path):
    f = tmp_path / "x.container"
    f.write_text("[Container]\nnot a line\n")
    proc = _run("fmt", str(f))
    assert proc.returncode == 1 and f"{f}:2: " in proc.stderr
