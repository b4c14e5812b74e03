"""The push's ssh command line as OpenSSH itself reads it: `ssh -G` prints the options an
argv comes to without connecting, so every setting is checked by the real client."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from homelab import push
from homelab.push.apply import staged_command
from homelab.push.ssh import SHARE_SECONDS
from tests.unit.test_push import HK


def _effective(argv: list[str]) -> dict[str, list[str]]:
    ssh = shutil.which("ssh")
    assert ssh, "OpenSSH client not found: apt-get install openssh-client"
    assert argv[0] == "ssh"
    proc = subprocess.run([ssh, "-G", *argv[1:]], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    out: dict[str, list[str]] = {}
    for line in proc.stdout.splitlines():
        key, _, value = line.partition(" ")
        out.setdefault(key, []).append(value)
    return out


def test_every_option_reaches_openssh(tmp_path: Path):
    key = tmp_path / "id_push"
    key.write_text("")
    conn = push.Connection("mouse.lan", HK, 2222, "core", str(key), None)
    control = tmp_path / "sock"
    argv = push.ssh_argv(conn, "/tmp/kh", "sh -s", control)
    got = _effective(argv)
    want = {
        "user": ["core"],
        "hostname": ["mouse.lan"],
        "port": ["2222"],
        "batchmode": ["yes"],
        "stricthostkeychecking": ["true"],
        "userknownhostsfile": ["/tmp/kh"],
        "globalknownhostsfile": ["/dev/null"],
        "hostkeyalias": ["homelab-push.mouse.lan.2222"],
        "checkhostip": ["no"],
        "updatehostkeys": ["false"],
        "connecttimeout": ["15"],
        "serveraliveinterval": ["15"],
        "loglevel": ["ERROR"],
        "controlmaster": ["auto"],
        "controlpath": [str(control)],
        "controlpersist": [str(SHARE_SECONDS)],
        "identitiesonly": ["yes"],
    }
    assert {k: got.get(k) for k in want} == want
    assert str(key) in got["identityfile"]
    # The remote command: after `--`, through sudo for core.
    assert argv[-2:] == ["--", "sudo -n sh -s"]


def test_a_key_path_with_tilde_is_expanded_for_ssh():
    conn = push.Connection("mouse.lan", HK, 22, "core", "~/.ssh/id_push", None)
    argv = push.ssh_argv(conn, "/tmp/kh", "sh -s")
    assert argv[argv.index("-i") + 1] == str(Path("~/.ssh/id_push").expanduser())


def test_without_sharing_no_control_socket_is_used():
    conn = push.Connection("mouse.lan", HK, 22, "root", None, None)
    argv = push.ssh_argv(conn, "/tmp/kh", "sh -s")
    got = _effective(argv)
    assert got["controlmaster"] == ["false"] and "controlpath" not in got  # none: unset
    assert (got["hostname"], got["user"], got["port"]) == (["mouse.lan"], ["root"], ["22"])
    assert "-i" not in argv and argv[-1] == "sh -s"  # root: no sudo, the agent's keys


def test_the_apply_command_passes_no_argument():
    assert staged_command("apply.sh") == push.APPLY_COMMAND
    assert push.APPLY_COMMAND.endswith('exec sh "$d/apply.sh" "$d"\'')


@pytest.mark.parametrize("with_arg", [False, True])
def test_the_staged_command_unpacks_into_a_fresh_dir_and_runs_the_script(with_arg: bool):
    cmd = staged_command("apply.sh", with_arg)
    sh, dash_c, script = cmd.split(" ", 2)
    assert (sh, dash_c) == ("sh", "-c") and script[0] == script[-1] == "'"
    body = script[1:-1]
    assert body.startswith("mkdir -p /etc/homelab && ")
    # mktemp needs at least three trailing X's, uppercase.
    assert "d=$(mktemp -d /etc/homelab/.incoming.XXXXXX)" in body
    run = 'exec sh "$d/apply.sh" "$d" "$0"' if with_arg else 'exec sh "$d/apply.sh" "$d"'
    assert body.endswith(f'tar -x -C "$d" && {run}')
