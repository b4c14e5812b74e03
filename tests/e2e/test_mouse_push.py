"""`pulumi up` pushes to a running host over SSH; drift shows in `pulumi preview`.

Real parts only: the pulumi engine and its python dynamic-provider host, OpenSSH, the
simulated production host (systemd + sshd + podman 5.4 Quadlet, scripts/sim-host). The
scenarios run in order against one throwaway stack; each builds on the previous state.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from homelab import push
from homelab.hostplan import SECRETS_HELPER
from tests.e2e.push_program.spec import build_fileset
from tests.e2e.simhost import (
    CRASH_IMAGE,
    SECRET,
    Pulumi,
    SimHost,
    expected_tree,
    simhost,  # noqa: F401  (fixture)
    spec,
    wait_http,
)

pytestmark = [pytest.mark.simhost, pytest.mark.tools]

PORTS = {"web1.service": 18091, "web2.service": 18092}
UNITS = ("web1.service", "web2.service")


def managed_paths(*specs: dict[str, Any]) -> list[str]:
    paths: set[str] = set()
    for s in specs:
        paths |= {f.path for f in build_fileset(s).files}
    return sorted(paths)


@pytest.fixture(scope="module")
def stack(simhost: SimHost, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pulumi]:  # noqa: F811
    pl = Pulumi(tmp_path_factory.mktemp("pulumi"))
    pl.configure(simhost.connection(), spec())
    yield pl


def invocations(host: SimHost) -> dict[str, str]:
    return {u: host.unit(u)["InvocationID"] for u in UNITS}


def test_1_first_up_starts_every_unit(stack: Pulumi, simhost: SimHost) -> None:  # noqa: F811
    before = simhost.accepted_logins()
    stack.up()
    # `up --skip-preview`: one connection for check (live read), one for the push, and one
    # for this count itself.
    assert simhost.accepted_logins() - before - 1 == 2
    for u in UNITS:
        assert simhost.unit(u)["ActiveState"] == "active", u
        assert wait_http(simhost, PORTS[u]).strip() == "homelab-sim"
    out = stack.outputs()
    assert out["generation"] == simhost.current_generation()
    assert set(out["hashes"]) == {
        "/etc/containers/systemd/web1.container",
        "/etc/containers/systemd/web2.container",
        "/etc/homelab/notes.txt",
        SECRETS_HELPER,
    }
    assert out["drift"] == {}
    # Secret env file: root 0600, right content, never in the state in plain text.
    assert simhost.sh("stat -L -c %a:%u:%g /etc/homelab/env/web1.env").strip() == "600:0:0"
    assert f"WEB_PASSWORD={SECRET}" in simhost.sh("cat /etc/homelab/env/web1.env")
    assert simhost.sh("stat -c %a:%u:%g /var/tank/services/web1").strip() == "750:1000:1000"
    exported = stack.run("stack", "export", "-s", stack.stack).stdout
    assert SECRET not in exported
    assert simhost.tree(managed_paths(spec())) == expected_tree(
        build_fileset(spec()), managed_paths(spec())
    )


def test_2_changing_one_container_restarts_only_it(stack: Pulumi, simhost: SimHost) -> None:  # noqa: F811
    before = invocations(simhost)
    stack.run("config", "set", "-s", stack.stack, "pushtest:spec", _json(spec(rev1="2")))
    stack.up()
    after = invocations(simhost)
    assert after["web1.service"] != before["web1.service"]
    assert after["web2.service"] == before["web2.service"]
    assert "HOMELAB_REV=2" in simhost.sh("cat /etc/containers/systemd/web1.container")
    assert wait_http(simhost, 18091).strip() == "homelab-sim"


def test_3_no_change_up_writes_and_restarts_nothing(stack: Pulumi, simhost: SimHost) -> None:  # noqa: F811
    gen = simhost.current_generation()
    inv = invocations(simhost)
    simhost.sh("touch /run/homelab-marker && sleep 1.1")
    before = simhost.accepted_logins()
    p = stack.up()
    # The no-change up only reads: one connection (plus one for this count).
    assert simhost.accepted_logins() - before - 1 == 1
    written = simhost.sh(
        "find /etc/homelab /etc/containers/systemd /var/tank/services -newer /run/homelab-marker"
    )
    assert written.strip() == "", f"files written by a no-change up:\n{written}"
    assert simhost.current_generation() == gen
    assert invocations(simhost) == inv
    assert "unchanged" in p.stdout


def test_3b_twenty_previews_on_a_clean_host_report_no_drift(stack: Pulumi) -> None:
    for _ in range(20):
        p = stack.preview("--expect-no-changes")
        assert "drifted item" not in p.stdout + p.stderr


def test_4_drift_is_previewed_and_healed(stack: Pulumi, simhost: SimHost) -> None:  # noqa: F811
    inv = invocations(simhost)
    simhost.sh(
        "echo '# edited by hand' >> /etc/containers/systemd/web1.container && "
        "rm /etc/homelab/notes.txt && "
        "printf '[Container]\\nImage=docker.io/library/homelab-test-web:1.0\\n' "
        "> /etc/containers/systemd/extra.container"
    )
    p = stack.preview(check=False)
    text = p.stdout + p.stderr
    for path in (
        "/etc/containers/systemd/web1.container",
        "/etc/homelab/notes.txt",
        "/etc/containers/systemd/extra.container",
    ):
        assert path in text, f"{path} not named in the preview:\n{text}"
    assert "content differs" in text and "missing" in text and "unmanaged Quadlet" in text
    stack.up()
    stack.preview("--expect-no-changes")
    after = invocations(simhost)
    assert after["web1.service"] != inv["web1.service"]
    assert after["web2.service"] == inv["web2.service"]
    assert simhost.sh("ls /etc/containers/systemd").split() == [
        "users",
        "web1.container",
        "web2.container",
    ]
    assert simhost.sh("cat /etc/homelab/notes.txt") == "managed by the homelab push test\n"


def test_5_crashing_container_rolls_back(stack: Pulumi, simhost: SimHost) -> None:  # noqa: F811
    gen = simhost.current_generation()
    good = simhost.tree(managed_paths(spec()))
    stack.run(
        "config", "set", "-s", stack.stack, "pushtest:spec",
        _json(spec(rev1="2", image2=CRASH_IMAGE)),
    )  # fmt: skip
    stack.run("config", "set", "-s", stack.stack, "pushtest:health_timeout", "8")
    p = stack.up(check=False)
    text = p.stdout + p.stderr
    assert p.returncode != 0
    assert "web2.service did not stay active" in text
    assert "rolled back" in text
    assert "crashing on purpose" in text, f"journal tail missing:\n{text}"
    assert simhost.current_generation() == gen
    assert simhost.tree(managed_paths(spec())) == good
    assert simhost.unit("web2.service")["ActiveState"] in ("active", "activating")
    assert wait_http(simhost, 18092).strip() == "homelab-sim"
    # Back to the good spec: nothing to do on the host.
    stack.run("config", "set", "-s", stack.stack, "pushtest:spec", _json(spec(rev1="2")))
    stack.run("config", "set", "-s", stack.stack, "pushtest:health_timeout", "20")
    stack.up()
    stack.preview("--expect-no-changes")


def test_5b_invalid_quadlet_is_rejected_by_the_hosts_generator(
    stack: Pulumi,
    simhost: SimHost,  # noqa: F811
) -> None:
    cur = _loads(stack.run("config", "get", "-s", stack.stack, "pushtest:spec").stdout)
    gen = simhost.current_generation()
    good = simhost.tree(managed_paths(cur))
    stack.run("config", "set", "-s", stack.stack, "pushtest:spec", _json(dict(cur, broken=True)))
    p = stack.up(check=False)
    text = p.stdout + p.stderr
    assert p.returncode != 0
    assert "quadlet rejected the new units" in text
    assert "no Image or Rootfs key specified" in text
    assert simhost.current_generation() == gen
    assert simhost.tree(managed_paths(cur)) == good
    assert "broken.container" not in simhost.sh("ls /etc/containers/systemd")
    stack.run("config", "set", "-s", stack.stack, "pushtest:spec", _json(cur))
    stack.preview("--expect-no-changes")


@pytest.mark.parametrize("point", ["staged", "before-switch", "after-switch", "after-reload"])
def test_6_killed_push_leaves_old_or_new(stack: Pulumi, simhost: SimHost, point: str) -> None:  # noqa: F811
    cur = stack.run("config", "get", "-s", stack.stack, "pushtest:spec").stdout
    old_spec = _loads(cur)
    rev = str(int(old_spec["containers"]["web1"]["rev"]) + 1)
    new_spec = spec(rev1=rev, notes=False)  # also removes a file
    paths = managed_paths(old_spec, new_spec)
    old = expected_tree(build_fileset(old_spec), paths)
    new = expected_tree(build_fileset(new_spec), paths)
    assert old != new
    simhost.sh(f"mkdir -p /etc/homelab-sim && echo {point} > /etc/homelab-sim/kill-at")
    stack.run("config", "set", "-s", stack.stack, "pushtest:spec", _json(new_spec))
    p = stack.up(check=False)
    assert p.returncode != 0, f"the push was not killed at {point}"
    assert simhost.sh("test -e /etc/homelab-sim/kill-at || echo fired").strip() == "fired"
    tree = simhost.tree(paths)
    want = new if point in ("after-switch", "after-reload") else old
    assert tree == want, f"killed at {point}: tree is neither the expected state"
    assert tree in (old, new)
    # The next up completes the job, including restarts the killed one never did.
    inv = simhost.unit("web1.service")["InvocationID"]
    stack.up()
    assert simhost.tree(paths) == new
    assert simhost.unit("web1.service")["InvocationID"] != inv
    assert wait_http(simhost, 18091).strip() == "homelab-sim"
    stack.preview("--expect-no-changes")
    stack.run("config", "set", "-s", stack.stack, "pushtest:spec", _json(spec(rev1=rev)))
    stack.up()


def test_6b_killed_during_transfer_leaves_old(simhost: SimHost) -> None:  # noqa: F811
    # A push killed mid-transfer is a truncated tar on the host's stdin; send exactly that
    # through the real remote command.
    conn = push.Connection.from_dict(simhost.connection())
    cur = simhost.tree(managed_paths(spec(rev1="99")))
    fs = build_fileset(spec(rev1="99"))
    m = push.build_manifest(fs)
    data = push.build_tar(
        m, push.plain_contents(fs), push.secret_contents(fs, {"webPassword": SECRET}),
        "20990101T000000Z-deadbeef", 10, 1,
    )  # fmt: skip
    rc, out, _ = push.run_ssh(conn, push.APPLY_COMMAND, data[: len(data) // 2], 60)
    assert rc != 0 and "HOMELAB-OK" not in out
    assert simhost.tree(managed_paths(spec(rev1="99"))) == cur
    assert "20990101T000000Z-deadbeef" not in simhost.sh("ls /etc/homelab/generations")


def test_7_wrong_host_key_is_refused(
    stack: Pulumi,
    simhost: SimHost,  # noqa: F811
    tmp_path: Path,
) -> None:
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(tmp_path / "k")], check=True
    )
    wrong = " ".join((tmp_path / "k.pub").read_text().split()[:2])
    gen = simhost.current_generation()
    before = simhost.accepted_logins()
    stack.run("config", "set", "-s", stack.stack, "--path", "pushtest:ssh.host_key", wrong)
    try:
        stack.run("config", "set", "-s", stack.stack, "pushtest:spec", _json(spec(rev1="77")))
        p = stack.up(check=False)
        assert p.returncode != 0
        assert "host key verification failed" in (p.stdout + p.stderr).lower()
        # Only this count's own connection got in: the push never authenticated.
        assert simhost.accepted_logins() == before + 1, "the push reached the host"
        assert simhost.current_generation() == gen
    finally:
        stack.run(
            "config", "set", "-s", stack.stack, "--path", "pushtest:ssh.host_key",
            simhost.host_key,
        )  # fmt: skip
    stack.up()  # rev 77 with the right key
    assert "HOMELAB_REV=77" in simhost.sh("cat /etc/containers/systemd/web1.container")


def test_8_root_user_without_sudo(stack: Pulumi, simhost: SimHost) -> None:  # noqa: F811
    stack.run("config", "set", "-s", stack.stack, "--path", "pushtest:ssh.user", "root")
    try:
        p = stack.preview("--expect-no-changes", check=False)
        assert p.returncode != 0  # the connection setting changed: an update, but no drift
        stack.up()
        stack.preview("--expect-no-changes")
    finally:
        stack.run("config", "set", "-s", stack.stack, "--path", "pushtest:ssh.user", "core")
        stack.up()


def _json(v: Any) -> str:
    import json

    return json.dumps(v)


def _loads(s: str) -> dict[str, Any]:
    import json

    return dict(json.loads(s))
