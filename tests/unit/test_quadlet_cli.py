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


def _app_with_network(folder: Path, with_network: bool) -> Path:
    folder.mkdir()
    app = folder / "app.container"
    app.write_text("[Container]\nImage=docker.io/a/b:1\nNetwork=app.network\n")
    if with_network:
        (folder / "app.network").write_text("[Network]\nSubnet=10.89.7.0/24\n")
    return app


def test_check_resolves_sibling_units_in_every_stage_like_podman(tmp_path):
    # podman loads the whole folder; so does check, generator stage included.
    app = _app_with_network(tmp_path / "pair", with_network=True)
    proc = _run("check", str(app))
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, "", "")


def test_check_alone_reports_the_missing_sibling_at_its_line(tmp_path):
    app = _app_with_network(tmp_path / "alone", with_network=False)
    proc = _run("check", str(app))
    assert proc.returncode == 1
    assert proc.stdout == f"{app}:3: requested Quadlet unit app.network was not found\n"
    assert "/tmp/tmp" not in proc.stdout + proc.stderr
