"""The reinstall flow of the README, through the project's own program and the simulated host.

mouse keeps `secrets_in_ignition: false`: its Ignition (made by the real butane through the
command plugin) must hold none of the secrets, and after a reinstall from it, `pulumi up -s
mouse` delivers them and the containers that need them start.

The reinstall is simulated on the sim host: homelab's state is wiped and the Ignition's files
are written as Ignition's files stage would write them (decoded from the Ignition JSON, same
paths, modes and owners), then the units start as at boot. The real Ignition binary is not
run here.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator

import pytest

from homelab.host.system import CORE_KEYS_FILE
from tests.e2e.mouse_stack import MouseStack, ignition_files, new_mouse_stack, sim_key_line
from tests.e2e.simhost import SimHost, wait_http

pytestmark = [pytest.mark.simhost, pytest.mark.tools]

# Distinct values, so a hit can only come from this stack's secrets.
SECRETS = {"rustfsAccessKey": "reinstall-access-7f3a", "rustfsSecretKey": "reinstall-secret-c91e"}


@pytest.fixture(scope="module")
def ms(mouse_host: SimHost, tmp_path_factory: pytest.TempPathFactory) -> Iterator[MouseStack]:
    st = new_mouse_stack(mouse_host, tmp_path_factory.mktemp("mouse-reinstall"), SECRETS)
    st.stack.up()
    yield st


def test_ignition_has_no_secrets_and_exactly_the_planned_files(ms: MouseStack) -> None:
    ignition = ms.stack.outputs(show_secrets=True)["ignition"]
    doc = json.loads(ignition)
    assert doc["ignition"]["version"].startswith("3.")
    files = ignition_files(ignition)
    decoded = "\n".join(f.data.decode() for f in files.values())
    for value in SECRETS.values():
        assert value not in ignition and value not in decoded
        for enc in (base64.b64encode(value.encode()).decode(), value.encode().hex()):
            assert enc not in ignition
    plan = ms.plan()
    want = {f.path: f for f in plan.fileset.files if f.in_ignition and f.path != CORE_KEYS_FILE}
    assert set(files) == set(want)
    assert not [p for p in files if p.startswith("/etc/homelab/env/")]
    for path, f in want.items():
        got = files[path]
        assert got.data.decode() == f.content, path
        assert (got.mode, got.uid, got.gid) == (f.mode, f.uid, f.gid), path
    keys = [sim_key_line(ms.host)]
    core = next(u for u in doc["passwd"]["users"] if u["name"] == "core")
    assert core["sshAuthorizedKeys"] == keys
    # Data directories live on the pool, which Ignition runs before: not created by it.
    dirs = [d["path"] for d in doc["storage"].get("directories", [])]
    assert not [d for d in dirs if d.startswith("/var/tank")], dirs
    links = {ln["path"]: ln["target"] for ln in doc["storage"]["links"]}
    assert links["/etc/localtime"] == "../usr/share/zoneinfo/UTC"


def _reinstall_from(host: SimHost, ignition: str) -> None:
    """A freshly installed mouse: homelab's state gone, the Ignition's files and links
    written. Every path the Ignition names is removed first (on the old host each was a link
    into the wiped /etc/homelab)."""
    storage = json.loads(ignition)["storage"]
    links = {ln["path"]: ln["target"] for ln in storage.get("links", [])}
    files = ignition_files(ignition)
    gone = " ".join(f"'{p}'" for p in sorted({*files, *links}))
    host.sh(
        "systemctl stop rustfs.service netdata.service navidrome.service 2>/dev/null; "
        "podman rm -af >/dev/null; podman secret rm --all >/dev/null; "
        f"rm -rf /etc/homelab /etc/containers/systemd/*.container {gone}; "
        "systemctl reset-failed; true"
    )
    script = []
    for f in files.values():
        b64 = base64.b64encode(f.data).decode()
        script.append(
            f"mkdir -p \"$(dirname '{f.path}')\" && printf %s '{b64}' | base64 -d > '{f.path}' "
            f"&& chown {f.uid}:{f.gid} '{f.path}' && chmod {f.mode:o} '{f.path}'"
        )
    for path, target in sorted(links.items()):
        script.append(f"mkdir -p \"$(dirname '{path}')\" && ln -sfn '{target}' '{path}'")
    host.sh(" && ".join(script))
    # Ignition's passwd stage: core's keys from passwd.users, in the file ssh-key-dir reads
    # (the old one was a link into the wiped /etc/homelab).
    core = next(u for u in json.loads(ignition)["passwd"]["users"] if u["name"] == "core")
    keys = base64.b64encode("".join(k + "\n" for k in core["sshAuthorizedKeys"]).encode())
    host.sh(
        f"rm -f {CORE_KEYS_FILE} && printf %s '{keys.decode()}' | base64 -d > {CORE_KEYS_FILE}"
        f" && chown core:core {CORE_KEYS_FILE} && chmod 0600 {CORE_KEYS_FILE}"
    )
    # What the first boot does next: the generator runs, multi-user.target starts the units.
    host.sh("systemctl daemon-reload && systemctl start --no-block rustfs.service netdata.service")


def test_reinstall_then_up_delivers_the_secrets(ms: MouseStack) -> None:
    host = ms.host
    ignition = ms.stack.outputs(show_secrets=True)["ignition"]
    _reinstall_from(host, ignition)
    assert host.sh("test -e /etc/homelab/env/rustfs.env || echo absent").strip() == "absent"
    # Without its secrets rustfs cannot start (its ExecStartPre has no env file to load);
    # netdata needs none and runs.
    deadline = time.monotonic() + 30
    while host.unit("netdata.service")["ActiveState"] != "active":
        assert time.monotonic() < deadline, host.unit("netdata.service")
        time.sleep(0.5)
    time.sleep(2)
    assert host.unit("rustfs.service")["ActiveState"] != "active"
    journal = host.sh("journalctl -u rustfs.service --no-pager -o cat | tail -n 20")
    assert "/etc/homelab/env/rustfs.env" in journal, journal

    # The owner gets in (a new connection, with the key Ignition wrote).
    assert host.fresh_login() == "root"
    # preview names what is missing and what up does about it: the reinstalled host holds no
    # record of the last push, so this is the plan (not drift), and never the values.
    p = ms.stack.preview(check=False)
    text = p.stdout + p.stderr
    assert "secret file /etc/homelab/env/rustfs.env: new (values not shown)" in text, text
    assert "restart rustfs.service: /etc/homelab/env/rustfs.env changed" in text, text
    assert CORE_KEYS_FILE not in text, text  # Ignition wrote the same key: nothing to do
    assert all(v not in text for v in SECRETS.values())
    ms.stack.up()
    assert host.unit("rustfs.service")["ActiveState"] == "active"
    assert host.stat("/etc/homelab/env/rustfs.env") == "600:0:0"
    got = host.sh("podman exec rustfs sh -c 'echo $RUSTFS_ACCESS_KEY:$RUSTFS_SECRET_KEY'")
    assert got.strip() == f"{SECRETS['rustfsAccessKey']}:{SECRETS['rustfsSecretKey']}"
    assert wait_http(host, 9000).strip() == "homelab-sim"
    paths = ms.managed_paths()
    assert host.tree(paths) == ms.expected_tree(paths)
    ms.stack.preview("--expect-no-changes")
