"""Images for real: the mouse-shaped stack pulls from the test registry (scripts/registry:
Debian's docker-registry), through the sim host's registries.conf mirror, by the digests of
the project's images.lock (made by `homelab images lock` against that registry).

In order, on one stack: the first `up` pulls every image by digest; `homelab images update`
rewrites one tag and re-locks, and the next `up` pulls the new image BEFORE the switch; a
failed pull (registry down, a digest the registry does not have) aborts in one line with the
host unchanged; `homelab rollback` works with the registry stopped; after healthy switches,
the images no kept generation uses are removed (disk bounded over several upgrades).
"""

from __future__ import annotations

import base64
import json
import subprocess
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import yaml

from homelab.host.images import ImageLock
from tests.e2e.mouse_stack import SECRETS, MouseStack, ignition_files, new_mouse_stack, stand_ins
from tests.e2e.pulumi_cli import new_stack
from tests.e2e.registry import (
    AUTH_PORT,
    MIRROR,
    SCRIPT,
    SlowProxy,
    push,
    registry_down,
    registry_up,
)
from tests.e2e.simhost import SimHost, wait_http

pytestmark = [pytest.mark.simhost, pytest.mark.tools]
REPO = Path(__file__).resolve().parents[2]
NAME = "netdata"
SI = next(si for si in stand_ins() if si.container == NAME)
PORT = SI.tcp_ports[0]
BASE = SI.image.rsplit(":", 1)[0]


@pytest.fixture(scope="module")
def ms(mouse_host: SimHost, tmp_path_factory: pytest.TempPathFactory) -> Iterator[MouseStack]:
    yield new_mouse_stack(mouse_host, tmp_path_factory.mktemp("images"))
    registry_up()  # whatever a test left


def homelab(ms: MouseStack, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(REPO / ".venv" / "bin" / "homelab"), *args],
        cwd=ms.project,
        env=ms.stack.env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def release(tag: str) -> str:
    """A new release of the stand-in under `tag`: it serves `tag` as its page."""
    cmd = SI.command().replace("sh -c '", f"sh -c 'echo {tag} >/www/index.html; ", 1)
    (digest,) = push(cmd, f"{BASE}:{tag}").values()
    return digest


def lock(ms: MouseStack) -> ImageLock:
    return ImageLock.parse((ms.project / "images.lock").read_text())


def running_digest(host: SimHost, name: str) -> str:
    return host.sh(f"podman inspect {name} --format '{{{{.ImageDigest}}}}'").strip()


def held(host: SimHost) -> set[str]:
    """The repository@digest of every image the host holds."""
    out = host.sh("podman images --digests --format '{{.Repository}}@{{.Digest}}'")
    return set(out.split())


def test_1_first_up_pulls_every_locked_image(ms: MouseStack) -> None:
    host = ms.host
    ms.stack.up()
    entries = lock(ms).entries
    used = set()
    for name in ("netdata", "rustfs"):
        unit = host.sh(f"cat /etc/containers/systemd/{name}.container")
        (ref,) = [ln[6:] for ln in unit.splitlines() if ln.startswith("Image=")]
        tagged, _, digest = ref.partition("@")
        assert entries[tagged].digest == digest
        assert running_digest(host, name) == digest
        used.add(ref)
    assert used <= set(host.sh("cat /etc/homelab/images/pulled").split())
    assert host.sh("stat -c %a /etc/homelab/images").strip() == "700"


def test_1b_the_vms_ignition_and_mouses_push_carry_identical_digests(
    ms: MouseStack, tmp_path: Path
) -> None:
    # vm-test's Ignition as `homelab build` writes it (it carries secrets: a stack to ask).
    vm = new_stack(ms.project, tmp_path / "state", "vm-test")
    # One line per key: NAME, then "set" or "NOT SET: ..." (the first word is the key).
    needed = [ln.split()[0] for ln in homelab(ms, "secrets", "vm-test").stdout.splitlines()]
    for k in needed:
        vm.set_secret(f"homelab:{k}", SECRETS.get(k, f"e2e-{k}"))
    out = tmp_path / "out"
    p = subprocess.run(
        [str(REPO / ".venv" / "bin" / "homelab"), "build", "vm-test", "--out", str(out)],
        cwd=ms.project,
        env=vm.env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert p.returncode == 0, p.stderr
    ign = ignition_files((out / "vm-test.ign").read_text())
    for name in ("netdata", "rustfs"):
        path = f"/etc/containers/systemd/{name}.container"
        vm_image = [ln for ln in ign[path].data.decode().splitlines() if ln.startswith("Image=")]
        host_image = [
            ln for ln in ms.host.sh(f"cat {path}").splitlines() if ln.startswith("Image=")
        ]
        assert vm_image == host_image and "@sha256:" in host_image[0], (vm_image, host_image)


def test_2_update_pulls_before_the_switch(ms: MouseStack) -> None:
    host = ms.host
    digest = release("v2.7.2")
    before = (ms.project / "containers" / f"{NAME}.container").read_text()
    out = homelab(ms, "images", "outdated", "--mirror", MIRROR)
    assert out.returncode == 0, out.stderr
    # (The registry's storage outlives a session: later tags may be there too.)
    row = next(ln for ln in out.stdout.splitlines() if ln.startswith(f"{NAME}\t{SI.image}\t"))
    assert "v2.7.2" in row.split("\t")[2].split() and "v2.7.1-e2e-crash" not in row
    out = homelab(ms, "images", "update", NAME, "--to", "v2.7.2", "--mirror", MIRROR)
    assert out.returncode == 0, out.stderr
    after = (ms.project / "containers" / f"{NAME}.container").read_text()
    assert after == before.replace(SI.image, f"{BASE}:v2.7.2")
    assert lock(ms).entries[f"{BASE}:v2.7.2"].digest == digest
    rustfs = host.unit("rustfs.service")["InvocationID"]
    ms.stack.up()
    assert wait_http(host, PORT).strip() == "v2.7.2"
    assert running_digest(host, NAME) == digest
    assert host.unit("rustfs.service")["InvocationID"] == rustfs
    log = host.sh('cat "$(readlink /etc/homelab/current)/apply.log"')
    # Pulled before anything switched (the log is written in order).
    assert log.index(f"HOMELAB-PULLED {BASE}:v2.7.2@{digest}") < log.index("HOMELAB-SWITCHED")


def test_3_a_failed_pull_leaves_the_host_unchanged(ms: MouseStack) -> None:
    host = ms.host
    digest = release("v2.7.3")
    assert (
        homelab(ms, "images", "update", NAME, "--to", "v2.7.3", "--mirror", MIRROR).returncode == 0
    )
    gen = host.current_generation()
    paths = ms.managed_paths()
    tree = host.tree(paths)
    inv = host.invocations("netdata.service", "rustfs.service")
    registry_down()
    try:
        p = ms.stack.up(check=False)
    finally:
        registry_up()
    text = p.stdout + p.stderr
    assert p.returncode != 0
    want = f"pulling {BASE}:v2.7.3@{digest} (for netdata.service) from docker.io failed: "
    assert want in text and "; host unchanged" in text, text
    assert host.current_generation() == gen and host.tree(paths) == tree
    assert host.invocations("netdata.service", "rustfs.service") == inv
    assert wait_http(host, PORT).strip() == "v2.7.2"
    assert not any(digest in r for r in held(host))
    # A digest the registry does not serve (a lock that names other bytes) is refused too.
    text = (ms.project / "images.lock").read_text()
    wrong = "sha256:" + "0" * 64
    (ms.project / "images.lock").write_text(text.replace(digest, wrong))
    p = ms.stack.up(check=False)
    text2 = p.stdout + p.stderr
    assert p.returncode != 0 and f"{BASE}:v2.7.3@{wrong}" in text2 and "host unchanged" in text2
    assert host.current_generation() == gen
    assert host.invocations("netdata.service", "rustfs.service") == inv
    (ms.project / "images.lock").write_text(text)
    ms.stack.up()
    assert wait_http(host, PORT).strip() == "v2.7.3"


def test_4_rollback_works_with_the_registry_stopped(ms: MouseStack) -> None:
    host = ms.host
    registry_down()
    try:
        out = homelab(ms, "rollback", "e2e-mouse")
    finally:
        registry_up()
    assert out.returncode == 0, out.stdout + out.stderr
    assert wait_http(host, PORT).strip() == "v2.7.2"
    ms.stack.up()  # back to the stack
    assert wait_http(host, PORT).strip() == "v2.7.3"


def test_5_images_no_kept_generation_uses_are_pruned(ms: MouseStack) -> None:
    host = ms.host
    sizes = []
    ever: set[str] = set()
    for i in range(4, 12):
        tag = f"v2.7.{i}"
        release(tag)
        assert (
            homelab(ms, "images", "update", NAME, "--to", tag, "--mirror", MIRROR).returncode == 0
        )
        ms.stack.up()
        assert wait_http(host, PORT).strip() == tag
        kept = host.sh(
            "for g in /etc/homelab/generations/*; do case $g in *.failed) continue;; esac;"
            " awk -F'\\t' '$1 == \"P\" {print $2}' \"$g/manifest.tsv\"; done | sort -u"
        ).split()
        pulled = set(host.sh("sort -u /etc/homelab/images/pulled").split())
        ever |= pulled
        # What homelab keeps is what a kept generation uses, and what it let go is gone.
        assert pulled <= set(kept), pulled - set(kept)
        on_host = {r.split("@")[1] for r in held(host)}
        dropped = {r.split("@")[1] for r in ever - pulled} - {r.split("@")[1] for r in pulled}
        assert not (on_host & dropped), on_host & dropped
        sizes.append(int(host.sh("du -sk /var/lib/containers/storage | cut -f1")))
    # Six kept generations at most: the last upgrades remove as much as they add.
    assert not any(
        f"{BASE}:v2.7.4@" in r for r in host.sh("cat /etc/homelab/images/pulled").split()
    )
    assert sizes[-1] <= sizes[-3] + 512, sizes


def test_5b_a_registry_that_dies_mid_pull_leaves_the_host_unchanged(ms: MouseStack) -> None:
    """The registry goes away while the host downloads the new image: a slow registry (a
    delaying proxy the host's mirror points at) is killed, connections reset, once a blob
    download has begun. The push stops in one line before the switch; the host keeps running
    the old image, and the next `up` with the registry back converges."""
    host = ms.host
    tag = "v2.7.50"
    digest = release(tag)
    assert homelab(ms, "images", "update", NAME, "--to", tag, "--mirror", MIRROR).returncode == 0
    gen, paths = host.current_generation(), ms.managed_paths()
    tree = host.tree(paths)
    inv = host.invocations("netdata.service", "rustfs.service")
    before = wait_http(host, PORT).strip()
    proxy = SlowProxy(rate=300)  # bytes/s: the image's small blobs take seconds
    proxy.point_host_at_it(host)
    try:
        with ThreadPoolExecutor(1) as pool:
            up = pool.submit(ms.stack.up, check=False)
            deadline = time.monotonic() + 300
            while proxy.blob_gets == 0 and not up.done() and time.monotonic() < deadline:
                time.sleep(0.05)
            assert proxy.blob_gets > 0, "the host never started downloading a blob"
            proxy.kill()
            registry_down()
            p = up.result(timeout=600)
    finally:
        proxy.close()
        proxy.point_host_at_it(host, on=False)
        registry_up()
    text = p.stdout + p.stderr
    assert p.returncode != 0, text
    want = f"pulling {BASE}:{tag}@{digest} (for netdata.service) from docker.io failed: "
    assert want in text and "; host unchanged" in text, text
    assert "Traceback" not in text, text
    # Unchanged and running: the same generation, files, invocations and answers; no
    # half-pulled image left behind.
    assert host.current_generation() == gen and host.tree(paths) == tree
    assert host.invocations("netdata.service", "rustfs.service") == inv
    assert wait_http(host, PORT).strip() == before
    assert not any(digest in r for r in held(host))
    ms.stack.up()
    assert wait_http(host, PORT).strip() == tag
    assert running_digest(host, NAME) == digest


def test_5c_a_hand_edit_to_other_bytes_is_image_drift(ms: MouseStack) -> None:
    """Someone points netdata at another image by hand (Image= edited on the host, then a
    restart): the preview (the same single read of the host) reports the running digest
    against the last push's, beside the edited file, and `homelab status` shows it next to
    the locked one; `up` brings the locked bytes back."""
    host = ms.host
    locked = running_digest(host, NAME)
    other = release("v2.7.51-by-hand")
    unit = "/etc/containers/systemd/netdata.container"
    host.sh(
        f"sed -i 's|^Image=.*|Image={BASE}@{other}|' {unit} && systemctl daemon-reload && "
        "systemctl restart netdata.service"
    )
    assert running_digest(host, NAME) == other
    p = ms.stack.preview()
    out = p.stdout + p.stderr
    # The warning's full line (the diff view pads the key and cuts long values).
    assert f"image:netdata.service: runs {other}, the last push pulled {locked}" in out, out
    assert f'{unit}: "content differs' in out, out
    st = homelab(ms, "status", "e2e-mouse")
    assert st.returncode == 0, st.stdout + st.stderr
    assert f"{other} (NOT the locked digest)" in st.stdout, st.stdout
    ms.stack.up()
    assert running_digest(host, NAME) == locked
    assert host.unit("netdata.service")["ActiveState"] == "active"
    ms.stack.preview("--expect-no-changes")


def test_6_a_private_registry_with_credentials_from_pulumi_secrets(
    ms: MouseStack, tmp_path: Path
) -> None:
    host = ms.host
    password = subprocess.run(
        [str(SCRIPT), "password"], capture_output=True, text=True, check=True
    ).stdout.strip()
    private = f"127.0.0.1:{AUTH_PORT}/{BASE.split('/', 1)[1]}:v2.7.2"
    ms.stack.set("homelab:containers.netdata.image", private)
    # Edited in the stack file, as a user writes it (the password is a secret config key).
    sf = ms.project / "Pulumi.e2e-mouse.yaml"
    doc = yaml.safe_load(sf.read_text())
    reg = {"username": "homelab", "password": "registryPassword"}
    doc["config"]["homelab:registries"] = {f"127.0.0.1:{AUTH_PORT}": reg}
    sf.write_text(yaml.safe_dump(doc, sort_keys=False))
    ms.set_secret("registryPassword", "wrong-" + password)
    auth = tmp_path / "auth.json"
    auth.touch(mode=0o600)
    token = base64.b64encode(f"homelab:{password}".encode()).decode()
    auth.write_text(json.dumps({"auths": {f"127.0.0.1:{AUTH_PORT}": {"auth": token}}}))
    assert (
        homelab(ms, "images", "lock", "--mirror", MIRROR, "--authfile", str(auth)).returncode == 0
    )
    gen = host.current_generation()
    # Bad credentials: refused before anything changes.
    p = ms.stack.up(check=False)
    text = p.stdout + p.stderr
    assert p.returncode != 0 and f"from 127.0.0.1:{AUTH_PORT} failed" in text, text
    assert "host unchanged" in text and host.current_generation() == gen
    assert password not in text
    # The right ones: pulled with them, kept in one root 0600 file.
    ms.set_secret("registryPassword", password)
    ms.stack.up()
    assert wait_http(host, PORT).strip() == "v2.7.2"
    assert host.stat("/etc/homelab/images/auth.json") == "600:0:0"
    assert host.sh("stat -c %a /etc/homelab/images").strip() == "700"
    # Never on a command line, in a log or in the state in plain text.
    assert password not in host.sh(
        "cat /etc/homelab/generations/*/apply.log; journalctl --no-pager"
    )
    assert password not in ms.stack.export()
