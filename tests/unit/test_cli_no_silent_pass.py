"""No silent pass: the `homelab` commands say what they did and what they left out, through
the real entry point (`python -m homelab`) on a copy of the project."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import yaml

from homelab import push
from homelab.push.sshfail import host_key_problem
from tests.e2e.pulumi_cli import project_copy

REPO = Path(__file__).resolve().parents[2]
PLACEHOLDER = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIReplaceWithMouseHostKeyFromSshKeyscanXXXXXX"


def homelab(*args: str, cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "homelab", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
    )


def test_check_with_a_stack_names_a_container_it_does_not_enable():
    files = sorted(str(p) for p in (REPO / "containers").glob("*.container"))
    p = homelab("quadlet", "check", "--stack", "mouse", *files)
    assert (p.returncode, p.stdout) == (0, ""), p.stderr
    notes = [ln for ln in p.stderr.splitlines() if ": note: " in ln]
    # mouse enables netdata and rustfs; navidrome, syncthing, tailscale are planned.
    assert [n.split("'")[1] for n in notes] == ["navidrome", "syncthing", "tailscale"], p.stderr
    assert "not enabled in stack mouse (homelab:containers.navidrome: enabled: false)" in notes[0]
    assert p.stderr.splitlines()[-1] == f"{len(files)} files OK"


def test_fmt_w_says_how_many_files_it_checked_and_rewrote(tmp_path):
    a, b = tmp_path / "a.container", tmp_path / "b.container"
    a.write_text("[Container]\nImage=docker.io/a/b:1\n")
    b.write_text("[Container]\nImage = docker.io/a/b:1\n")  # not canonical
    p = homelab("quadlet", "fmt", "-w", str(a), str(b))
    assert p.returncode == 0, p.stderr
    assert p.stderr.splitlines()[-1] == "2 files OK (1 reformatted)", p.stderr


def test_build_names_the_containers_it_leaves_out(tmp_path):
    project = project_copy(tmp_path / "project")
    p = homelab("build", "mouse", "--out", str(tmp_path / "out"), "--project", str(project))
    assert p.returncode == 0, p.stderr
    assert "left out (not enabled in mouse): navidrome, syncthing, tailscale;" in p.stdout


def test_secrets_marks_which_keys_are_set(tmp_path):
    project = project_copy(tmp_path / "project")
    sf = project / "Pulumi.mouse.yaml"
    doc = yaml.safe_load(sf.read_text())
    # An encrypted value as `pulumi config set --secret` writes it (never decrypted here).
    doc["config"]["homelab:rustfsAccessKey"] = {"secure": "v1:AAAA:BBBB"}
    doc["config"].pop("homelab:rustfsSecretKey", None)
    sf.write_text(yaml.safe_dump(doc))
    p = homelab("secrets", "mouse", "--project", str(project))
    assert p.returncode == 0, p.stderr
    assert p.stdout.splitlines() == [
        "rustfsAccessKey  set",
        "rustfsSecretKey  NOT SET: pulumi config set --secret -s mouse rustfsSecretKey",
    ]
    # scripts/preview loops over these names: one word a line, nothing else.
    p = homelab("secrets", "--names", "mouse", "--project", str(project))
    assert (p.returncode, p.stdout) == (0, "rustfsAccessKey\nrustfsSecretKey\n"), p.stderr


def test_a_closed_pipe_is_no_traceback(tmp_path):
    # `homelab quadlet fmt FILE | head -0`, deterministic: the reader is gone before the write.
    f = tmp_path / "a.container"
    f.write_text("[Container]\nImage=docker.io/a/b:1\n" * 50)
    for _ in range(3):
        p = subprocess.Popen(
            [sys.executable, "-m", "homelab", "quadlet", "fmt", str(f)],
            cwd=REPO,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert p.stdout is not None
        p.stdout.close()
        _, err = p.communicate(timeout=60)
        assert (p.returncode, err) == (0, "")


def test_the_repositorys_placeholder_host_key_is_refused_as_one():
    doc = yaml.safe_load((REPO / "Pulumi.mouse.yaml").read_text())
    shipped = doc["config"]["homelab:ssh"]["host_key"]
    assert shipped == PLACEHOLDER  # if mouse's file gets a real key, this test needs another
    conn = push.Connection(host="mouse.lan", host_key=PLACEHOLDER)
    msg = host_key_problem(conn)
    assert msg is not None and "placeholder" in msg and "reinstalled" not in msg
    assert "`ssh-keyscan -p 22 -t ed25519 mouse.lan`" in msg
    real = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAICjmq1k7aYIOE1js5mF1eA6b8r8ZCXSrsplOdUxF20t4"
    assert host_key_problem(push.Connection(host="h", host_key=real)) is None
    # Refused before any connection is tried.
    try:
        push.run_ssh(conn, "true", b"", 5)
    except push.PushError as exc:
        assert str(exc) == msg
    else:
        raise AssertionError("run_ssh connected with a placeholder key")
