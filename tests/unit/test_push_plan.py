"""The preview's plan (homelab.push.plan) from the read script run for real on files in a temp
dir (plain POSIX sh under dash), and the one-line SSH failures (homelab.push.sshfail)."""

from __future__ import annotations

import dataclasses
import subprocess
from pathlib import Path

from homelab import push
from homelab.push.plan import NO_DATASETS, PLAN_HEAD, render_plan, secret_strings
from homelab.push.sshfail import explain_ssh_failure
from tests.unit.test_push import HK, _dash, fileset, host_after_push, parts


def test_plan_diffs_changed_text_names_secrets_and_says_why_units_restart(
    tmp_path: Path,
) -> None:
    root = str(tmp_path)
    fs = fileset(root)
    m, c, s, h = parts(fs)
    web = f"{root}/etc/containers/systemd/web.container"
    env = f"{root}/etc/homelab/env/web.env"
    Path(web).parent.mkdir(parents=True)
    Path(web).write_text("[Container]\nImage=x:2\n")  # desired: x:1
    Path(env).parent.mkdir(parents=True)
    Path(env).write_text("PW=old-value\n")
    Path(root, "etc/motd").write_text("hi\n")  # unchanged: no text is sent for it
    plain = {p: x for p, x in h.items() if not m.manifest[p]["secret"]}
    p = subprocess.run(
        [_dash(), "-s"], input=push.read_script(m, plain), capture_output=True, text=True
    )
    assert p.returncode == 0, p.stderr
    live = push.parse_live(p.stdout)
    assert live.texts == {web: "[Container]\nImage=x:2\n"}  # changed non-secret files only
    plan = render_plan(m, c, h, live, secret_strings(s))
    files_part, also = plan.split("also:\n")
    assert files_part == PLAN_HEAD + (
        f"--- {web} (on the host)\n"
        f"+++ {web} (after up)\n"
        "@@ -1,2 +1,2 @@\n"
        " [Container]\n"
        "-Image=x:2\n"
        "+Image=x:1\n"
        f"secret file {env}: content differs (values not shown)\n"
    )
    # Modes, the data directory and the link the first push sets; nothing about links of
    # files homelab never pushed.
    assert f"  {root}/var/tank/services/web: directory missing\n" in also
    assert f"  {root}/etc/localtime: symlink missing\n" in also
    assert "not linked" not in also
    # No datasets in this set: one line says snapshots are off.
    assert also.endswith(
        f"units:\n  restart web.service: {web} changed, {env} changed\n" + NO_DATASETS
    )
    assert "hunter2" not in render_plan(m, dict(c, **{web: "PW=hunter2\n"}), h, live, ["hunter2"])


def test_plan_is_the_head_alone_when_the_host_matches() -> None:
    m, c, _s, h = parts(fileset())
    live = host_after_push(fileset())
    live.old_units = ["web.service", "gone.service"]
    assert render_plan(m, c, h, live) == PLAN_HEAD + (
        "units:\n  stop gone.service: no longer in the stack\n"
    )
    live.old_units = ["web.service"]
    assert render_plan(m, c, h, live) == PLAN_HEAD


def test_plan_lists_what_is_not_a_content_change() -> None:
    m, c, _s, h = parts(fileset())
    live = host_after_push(fileset())
    motd = live.files["/etc/motd"]
    assert motd is not None
    live.files["/etc/motd"] = dataclasses.replace(motd, mode=0o666)
    live.links["/etc/localtime"] = "/usr/share/zoneinfo/Europe/Berlin"
    assert render_plan(m, c, h, live) == PLAN_HEAD + (
        "also:\n"
        "  /etc/motd: mode 0666, want 0640\n"
        "  /etc/localtime: symlink -> /usr/share/zoneinfo/Europe/Berlin, want "
        "/usr/share/zoneinfo/UTC\n"
    )


def test_ssh_failures_are_one_line_with_host_port_and_what_to_check() -> None:
    conn = push.Connection(host="mouse.lan", port=2200, host_key=HK)
    refused = "ssh: connect to host mouse.lan port 2200: Connection refused\n"
    assert explain_ssh_failure(conn, refused) == (
        "cannot reach mouse.lan port 2200: connection refused; check that the host is up and "
        "sshd listens on that port (homelab:ssh host, port)"
    )
    changed = (
        "@@@@@@@\n@    WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED!     @\n"
        "The fingerprint for the ED25519 key sent by the remote host is\nSHA256:abc/def.\n"
        "Host key verification failed.\n"
    )
    msg = explain_ssh_failure(conn, changed)
    assert msg.startswith("mouse.lan port 2200 presented a host key other than the pinned")
    assert "(it sent SHA256:abc/def)" in msg and "ssh-keyscan -p 2200 -t ed25519 mouse.lan" in msg
    denied = "core@mouse.lan: Permission denied (publickey).\n"
    assert explain_ssh_failure(conn, denied).startswith(
        "core@mouse.lan port 2200 refused our key (permission denied); check homelab:ssh user"
    )
    for err in (refused, changed, denied, "ssh: Could not resolve hostname mouse.lan: x\n"):
        assert "\n" not in explain_ssh_failure(conn, err)
