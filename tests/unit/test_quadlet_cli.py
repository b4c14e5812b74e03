"""`python -m homelab quadlet check|fmt` as a user runs it (a real subprocess)."""

from __future__ import annotations

import os
import resource
import subprocess
import sys
from pathlib import Path

from tests.e2e.pulumi_cli import project_copy

REPO = Path(__file__).resolve().parents[2]
SVC = "[Service]\nRestart=on-failure\n"  # the house rule every container follows


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
    f.write_text("[Container]\nImage=docker.io/a/b:1\n\n\n\n\nImgae=docker.io/a/b:2\n" + SVC)
    proc = _run("check", "--no-generator", str(f))
    assert proc.returncode == 1
    assert proc.stdout == f"{f}:7: unknown key 'Imgae' in [Container]; did you mean 'Image'?\n"


def test_check_parse_error_fails(tmp_path):
    f = tmp_path / "x.container"
    f.write_text('[Container]\nImage=docker.io/a/b:1\nExec=sh -c "oops\n' + SVC)
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
    app.write_text("[Container]\nImage=docker.io/a/b:1\nNetwork=app.network\n" + SVC)
    if with_network:
        (folder / "app.network").write_text("[Network]\nSubnet=10.89.7.0/24\n")
    return app


def test_check_resolves_sibling_units_in_every_stage_like_podman(tmp_path):
    # podman loads the whole folder; so does check, generator stage included.
    app = _app_with_network(tmp_path / "pair", with_network=True)
    proc = _run("check", str(app))
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, "", "1 file OK\n")


def test_check_alone_reports_the_missing_sibling_at_its_line(tmp_path):
    app = _app_with_network(tmp_path / "alone", with_network=False)
    proc = _run("check", str(app))
    assert proc.returncode == 1
    assert proc.stdout == f"{app}:3: requested Quadlet unit app.network was not found\n"
    assert "/tmp/tmp" not in proc.stdout + proc.stderr


# --- check: as strict as build, every problem, each at its line (issue 13) ----------------

# Every finding of the issue that `check` passed and `build` then rejected, one per line.
BAD = """[Unit]
Description=web

[Container]
Image=docker.io/library/web:latest
PublishPort=8080:80
PublishPort=70000:80
PublishPort=abc
Volume=/var/tank/services/web/data:/data:Z
Volume=/var/tank/services/web/logs:/logs
Volume=relative/path:/x:Z
Volume=/srv/../etc:/y:Z
Environment=API_TOKEN=hunter2

[Install]
WantedBy=multi-user.target
"""


def _lines(out: str) -> dict[int, str]:
    """line number -> its messages (joined), for `FILE:LINE: message` output of one file,
    checking the lines come in order."""
    found: dict[int, str] = {}
    for ln in out.splitlines():
        _, line, msg = ln.split(":", 2)
        assert int(line) >= max(found, default=0), f"out of line order: {out}"
        found[int(line)] = (found.get(int(line), "") + " | " + msg.strip()).lstrip(" |")
    return found


def test_check_reports_everything_build_rejects_each_at_its_line(tmp_path):
    f = tmp_path / "web.container"
    f.write_text(BAD)
    proc = _run("check", str(f))
    assert proc.returncode == 1
    got = _lines(proc.stdout)
    assert "outside 1-65535" in got[7]
    assert "'abc' is not a number" in got[8]
    assert "no :Z" in got[10] and 9 not in got  # the second Volume=, not the first
    assert "is relative" in got[11]
    assert "contains '..'" in got[12]
    assert "looks like a secret" in got[13] and "hunter2" not in proc.stdout
    assert "Restart=on-failure" in got[1]  # no [Service] at all: at the top
    assert 5 not in got  # :latest is a production rule: the stack's
    assert "zfs-import" not in proc.stdout  # the pool is the stack's too


def test_check_with_a_stack_adds_its_rules(tmp_path):
    f = tmp_path / "web.container"
    f.write_text(BAD)
    mouse = _lines(_run("check", "--stack", "mouse", str(f)).stdout)
    assert "is not pinned: production rejects :latest" in mouse[5]
    assert "add zfs-import-tank.service to After= and Requires=" in mouse[1]
    vm = _lines(_run("check", "--stack", "vm-test", str(f)).stdout)
    assert 5 not in vm and "zfs-import" not in vm[1]  # not production, no pool
    assert set(mouse) - set(vm) == {5}


def test_check_and_build_say_the_same_of_a_unit_file(tmp_path):
    """The same code: a bad unit enabled in a stack gets the same lines from both."""
    project = project_copy(tmp_path / "project", images_lock=False)
    (project / "containers" / "web.container").write_text(BAD)
    stack = project / "Pulumi.mouse.yaml"
    stack.write_text(stack.read_text().replace("  homelab:containers:\n", _WEB_ENABLED))
    env = {**os.environ, "PULUMI_HOME": str(tmp_path / "no-pulumi")}
    built = subprocess.run(
        [sys.executable, "-m", "homelab", "build", "mouse", "--out", str(tmp_path / "o")],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert built.returncode == 1
    from_build = [ln for ln in built.stderr.splitlines() if ln.startswith("containers/web.")]
    checked = subprocess.run(  # from containers/: the project is found by walking up
        [*_HOMELAB, "quadlet", "check", "--stack", "mouse", "--no-generator", "web.container"],
        cwd=project / "containers",
        capture_output=True,
        text=True,
        check=False,
    )
    assert checked.returncode == 1
    assert [f"containers/{ln}" for ln in checked.stdout.splitlines()] == from_build
    assert len(from_build) == 9


_WEB_ENABLED = "  homelab:containers:\n    web: {}\n"
_HOMELAB = [sys.executable, "-m", "homelab"]


def test_repeated_keys_are_reported_at_the_value_in_effect(tmp_path):
    f = tmp_path / "app.container"
    f.write_text(
        "[Container]\n"
        "Image=docker.io/library/app:1\n"
        "Image=docker.io/library/app:latest\n"  # line 3: the one podman uses
        "Network=host\n"
        "Network=missing.network\n"  # line 5
        "ExposeHostPort=80\n"
        "ExposeHostPort=eighty\n"  # line 7
        "\n[Service]\nRestart=on-failure\n"
    )
    got = _lines(_run("check", "--stack", "mouse", "--no-generator", str(f)).stdout)
    assert set(got) == {3, 5, 7}, got
    assert "not pinned" in got[3]
    assert "missing.network was not found" in got[5]
    assert "invalid port format 'eighty'" in got[7]


def test_check_reports_every_parse_error(tmp_path):
    f = tmp_path / "x.container"
    f.write_text(
        "Stray=before any section\n"
        "[Container]\n"
        "Image=docker.io/library/x:1\n"
        "this is not a key value line\n"
        " =no key\n"
        'Exec=sh -c "unterminated\n'
        "[Service]\n"
        "Restart=on-failure\n"
        "also not a line\n"
    )
    got = _lines(_run("check", "--no-generator", str(f)).stdout)
    assert sorted(got) == [1, 4, 5, 6, 9], got
    assert "before any [Section]" in got[1]
    assert "not a key=value pair" in got[4] and "not a key=value pair" in got[9]
    assert "unterminated quote" in got[6]


def test_a_misplaced_key_names_its_section(tmp_path):
    f = tmp_path / "x.container"
    f.write_text(
        "[Container]\n"
        "Image=docker.io/library/x:1\n"
        "Restart=on-failure\n"
        "[Service]\n"
        "PublishPort=8080:80\n"
        "Restart=on-failure\n"
        "[Install]\n"
        "After=network-online.target\n"
        "WantedBy=multi-user.target\n"
    )
    proc = _run("check", "--no-generator", str(f))
    got = _lines(proc.stdout)
    assert got[3] == "Restart= belongs in [Service], not in [Container]; move it there"
    assert got[5].startswith("PublishPort= belongs in [Container], not in [Service]")
    assert got[8].startswith("After= belongs in [Unit], not in [Install]")
    assert "Retry" not in proc.stdout


def test_inline_secret_gives_the_projects_own_fix(tmp_path):
    f = tmp_path / "web.container"
    f.write_text(
        "[Container]\nImage=docker.io/library/web:1\nEnvironment=DB_PASSWORD=hunter2\n"
        "[Service]\nRestart=on-failure\n"
    )
    proc = _run("check", "--no-generator", str(f))
    assert proc.returncode == 1
    assert "homelab:containers.web.secrets" in proc.stdout
    assert "(DB_PASSWORD: webDbPassword)" in proc.stdout
    assert "EnvironmentFile" not in proc.stdout and "hunter2" not in proc.stdout


def test_keys_newer_than_podman_5_4_at_their_lines_without_temp_paths(tmp_path):
    f = tmp_path / "x.container"
    f.write_text(
        "[Container]\nImage=docker.io/library/x:1\nHttpProxy=false\nReloadSignal=SIGHUP\n"
        "[Service]\nRestart=on-failure\n"
    )
    proc = _run("check", str(f))  # with podman 5.4's generator
    assert proc.returncode == 1
    got = _lines(proc.stdout)
    assert sorted(got) == [3, 4]
    assert "HttpProxy in [Container] needs podman newer than 5.4" in got[3]
    assert "/tmp/tmp" not in proc.stdout + proc.stderr


def test_no_line_zero_a_whole_file_problem_points_at_the_file(tmp_path):
    # Every problem is FILE:LINE with a real line; one about the whole file names line 1.
    f = tmp_path / "web.container"
    f.write_text(BAD)
    unreadable = tmp_path / "gone.container"
    unreadable.symlink_to(tmp_path / "nowhere")
    proc = _run("check", "--stack", "mouse", str(f), str(unreadable))
    assert not [ln for ln in proc.stdout.splitlines() if ":0:" in ln]
    assert f"{unreadable}:1: does not exist" in proc.stdout.splitlines()
    assert [ln for ln in proc.stdout.splitlines() if ln.startswith(f"{f}:")]


# --- fmt: several files, --check, --diff, -w (issue 13) ----------------------------------

MESSY = "[Container]\nImage=docker.io/a/b:1   \nExec=a \\\n  b\n\n\n"
TIDY = "[Container]\nImage=docker.io/a/b:1\nExec=a b\n"


def _files(tmp_path: Path) -> tuple[Path, Path, Path]:
    messy, tidy, broken = (tmp_path / f"{n}.container" for n in ("messy", "tidy", "broken"))
    messy.write_text(MESSY)
    tidy.write_text(TIDY)
    broken.write_text("[Container]\nnot a line\nImage=docker.io/a/b:1\nalso not a line\n")
    return messy, tidy, broken


def test_fmt_check_lists_what_would_change_and_writes_nothing(tmp_path):
    messy, tidy, _ = _files(tmp_path)
    proc = _run("fmt", "--check", str(messy), str(tidy))
    assert (proc.returncode, proc.stdout) == (1, f"{messy}\n")
    assert messy.read_text() == MESSY
    assert _run("fmt", "--check", str(tidy)).returncode == 0


def test_fmt_diff_shows_the_change(tmp_path):
    messy, tidy, _ = _files(tmp_path)
    proc = _run("fmt", "--diff", str(messy), str(tidy))
    assert proc.returncode == 0
    assert proc.stdout.startswith(f"--- {messy}\t(original)\n+++ {messy}\t(formatted)\n")
    assert "\n-Exec=a \\\n-  b\n-\n-\n+Image=docker.io/a/b:1\n+Exec=a b\n" in proc.stdout
    assert str(tidy) not in proc.stdout
    assert messy.read_text() == MESSY


def test_fmt_write_rewrites_in_place_and_never_touches_a_broken_file(tmp_path):
    messy, tidy, broken = _files(tmp_path)
    messy.chmod(0o640)
    before = broken.read_text()
    tidy_ino = tidy.stat().st_ino
    proc = _run("fmt", "-w", str(messy), str(broken), str(tidy))
    assert proc.returncode == 1  # the broken one
    assert messy.read_text() == TIDY and (messy.stat().st_mode & 0o777) == 0o640
    assert broken.read_text() == before
    assert f"{broken}:2: " in proc.stderr and f"{broken}:4: " in proc.stderr  # every error
    assert tidy.stat().st_ino == tidy_ino  # unchanged files are not rewritten
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "broken.container",
        "messy.container",
        "tidy.container",
    ]  # no scratch file left


def test_fmt_write_that_fails_leaves_the_file_whole(tmp_path):
    """A write that fails half way (here: a file size limit, as a full disk would) must
    leave the original intact: never a truncated unit file."""
    f = tmp_path / "app.container"
    original = "[Container]\n" + "".join(f"Label=k{i}=v   \n" for i in range(50))
    f.write_text(original)
    limit = len(original) // 2

    def small_files() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    proc = subprocess.run(
        [sys.executable, "-m", "homelab", "quadlet", "fmt", "-w", str(f)],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
        preexec_fn=small_files,
    )
    assert proc.returncode == 1
    assert f"{f}: not written, left as it was: " in proc.stderr
    assert "Traceback" not in proc.stderr
    assert f.read_text() == original
    assert [p.name for p in tmp_path.iterdir()] == ["app.container"]


def test_fmt_into_its_own_input_is_refused(tmp_path):
    messy, _, _ = _files(tmp_path)
    with messy.open("w") as out:  # what `fmt f > f` does: the shell empties f first
        proc = subprocess.run(
            [sys.executable, "-m", "homelab", "quadlet", "fmt", str(messy)],
            cwd=REPO,
            stdout=out,
            stderr=subprocess.PIPE,
            text=True,
            check=False,
        )
    assert proc.returncode == 2
    assert f"use `fmt -w {messy}`" in proc.stderr


def test_fmt_keeps_a_comment_inside_a_continuation_and_the_same_unit(tmp_path):
    from homelab.tools import quadlet_generate

    f = tmp_path / "app.container"
    text = (
        "[Container]\nImage=docker.io/library/app:1\n"
        "Exec=/bin/sh -c \\\n"
        "    # why: the shell keeps the loop alive\n"
        '    "while true; do sleep 5; done"\n'
        "PodmanArgs=--log-level=debug   \\\n  --tz=UTC\n"
        "[Service]\nRestart=on-failure\n"
    )
    f.write_text(text)
    assert _run("fmt", "-w", str(f)).returncode == 0
    out = f.read_text()
    assert "  # why: the shell keeps the loop alive\n" in out
    assert "PodmanArgs=--log-level=debug   --tz=UTC\n" in out  # no comment: joined
    assert _run("fmt", "--check", str(f)).returncode == 0  # a fixed point
    before, after = (quadlet_generate({"app.container": t}) for t in (text, out))
    assert not before.messages and not after.messages
    assert after.units() == before.units() and "app.service" in before.units()


# --- CR LF line endings (issue 20): podman reads them; fmt normalises, check says so -------

PODMAN_CRLF = Path("/work/wt/shared/peer/podman-quadlet/hostname.pod")


def _crlf_pod(tmp_path: Path) -> Path:
    """podman's own corpus file with CR LF endings (its copy, or the same text when the
    corpus is not beside this checkout)."""
    f = tmp_path / "hostname.pod"
    if PODMAN_CRLF.is_file():
        f.write_bytes(PODMAN_CRLF.read_bytes())
    else:
        f.write_bytes(
            b"## assert-podman-args --hostname=test-host\r\n\r\n[Pod]\r\nHostName=test-host\r\n"
        )
    assert b"\r\n" in f.read_bytes()
    return f


def test_fmt_normalises_crlf_line_endings(tmp_path):
    f = _crlf_pod(tmp_path)
    lf = f.read_bytes().replace(b"\r\n", b"\n").decode()
    proc = _run("fmt", str(f))
    assert proc.returncode == 0, proc.stderr
    assert "\r" not in proc.stdout and "HostName=" in proc.stdout
    assert _run("fmt", "--check", str(f)).returncode == 1  # CR LF is not canonical
    proc = _run("fmt", "-w", str(f))
    assert proc.returncode == 0, proc.stderr
    assert b"\r" not in f.read_bytes()
    assert f.read_text() == _run("fmt", str(tmp_path / "hostname.pod")).stdout
    assert [ln for ln in f.read_text().splitlines() if ln.startswith("HostName=")] == [
        ln for ln in lf.splitlines() if ln.startswith("HostName=")
    ]


def test_check_reports_crlf_at_line_1_with_fmt_as_the_fix(tmp_path):
    f = _crlf_pod(tmp_path)
    proc = _run("check", "--no-generator", str(f))
    assert proc.returncode == 1
    assert proc.stdout == (
        f"{f}:1: lines end in CR LF (Windows line endings); run `homelab quadlet fmt -w {f}` "
        "(it rewrites them as LF)\n"
    )
    assert _run("fmt", "-w", str(f)).returncode == 0
    # What is left is about the pod itself (HostName= is newer than podman 5.4), not CR LF.
    assert "CR" not in _run("check", "--no-generator", str(f)).stdout


def test_a_cr_inside_a_value_stays_refused(tmp_path):
    f = tmp_path / "x.container"
    f.write_bytes(
        b"[Container]\r\nImage=docker.io/a/b:1\rExec=evil\r\n[Service]\r\nRestart=always\r\n"
    )
    for args in (("fmt",), ("fmt", "-w"), ("check", "--no-generator")):
        proc = _run(*args, str(f))
        assert proc.returncode == 1, args
        assert f"{f}:2: a carriage return (CR)" in proc.stdout + proc.stderr, args
    assert b"\r\n" in f.read_bytes()  # never written
