"""Secrets end to end and data that survives every operation, through the project's own
program (mouse-shaped stack, tests/e2e/mouse_stack.py) on the simulated host.

Real engine, real program, real command plugin and dynamic provider, real sshd/systemd/podman.
"""

from __future__ import annotations

import base64
import binascii
import io
import json
import shutil
import subprocess
import tarfile
from collections.abc import Iterator

import pytest
import yaml

from tests.e2e.mouse_stack import SECRETS, MouseStack, new_mouse_stack
from tests.e2e.simhost import SIM, SimHost, wait_http

pytestmark = [pytest.mark.simhost, pytest.mark.tools]

CANARY = "canary-51d2e8-do-not-leak"
# A second secret, used by another container than the canary's (navidrome, enabled here).
NAV_KEY = "navidrome-7c41aa-first"
# What they are rotated to: different strings (not the old ones plus a suffix, which a search
# for the old value would find inside the new one).
CANARY_NEW, NAV_KEY_NEW = "canary-93b0f4-second", "navidrome-2e9d51-second"
DATA = "/var/tank/services"
SEARCHED = "/etc /var /root /home /tmp /run /srv /opt /usr/local"
STORE = "/var/lib/containers/storage/secrets/filedriver/secretsdata.json"


@pytest.fixture(scope="module")
def ms(mouse_host: SimHost, tmp_path_factory: pytest.TempPathFactory) -> Iterator[MouseStack]:
    # Values reach pulumi on stdin (Stack.set_secret) and the host's searches on stdin too
    # (`SimHost.sh(stdin=)`): never an argument of any process.
    ms = new_mouse_stack(
        mouse_host, tmp_path_factory.mktemp("secrets"), dict(SECRETS, rustfsSecretKey=CANARY)
    )
    ms.stack.set("homelab:containers.navidrome.enabled", "true")
    ms.stack.set("homelab:containers.navidrome.secrets.ND_KEY", "navidromeKey")
    ms.set_secret("navidromeKey", NAV_KEY)
    # A private registry whose password is the canary too: the auth file is searched as well.
    sf = ms.project / "Pulumi.e2e-mouse.yaml"
    doc = yaml.safe_load(sf.read_text())
    doc["config"]["homelab:registries"] = {
        "registry.example": {"username": "homelab", "password": "registryPassword"}
    }
    sf.write_text(yaml.safe_dump(doc, sort_keys=False))
    ms.set_secret("registryPassword", CANARY)
    yield ms


def forms(value: str) -> list[str]:
    """The ways a store may hold `value`: as is, hex, and base64 (standard and URL-safe) at
    each of the three alignments it can have inside a longer base64 text."""
    raw = value.encode()
    out = [value, raw.hex()]
    for k in range(3):
        enc = base64.b64encode(b"\0" * k + raw).decode()
        core = enc[-(-8 * k // 6) : 8 * (k + len(raw)) // 6]
        out += [core, core.replace("+", "-").replace("/", "_")]
    return list(dict.fromkeys(out))


def _strings(doc: object) -> Iterator[str]:
    if isinstance(doc, dict):
        for k, v in doc.items():
            yield str(k)
            yield from _strings(v)
    elif isinstance(doc, list):
        for v in doc:
            yield from _strings(v)
    elif isinstance(doc, str):
        yield doc


def _decoded(text: str) -> Iterator[str]:
    """`text` and, where it is base64 (podman's secretsdata.json values) or JSON inside, what
    that holds, recursively."""
    yield text
    try:
        inner = base64.b64decode(text, validate=True).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        inner = ""
    if inner and inner != text:
        yield from _decoded(inner)
    if text[:1] in "{[":
        try:
            doc = json.loads(text)
        except ValueError:
            return
        for s in _strings(doc):
            yield from _decoded(s)


def json_stores(host: SimHost) -> dict[str, str]:
    """Every JSON file on the host (podman's secret store among them): path -> text."""
    p = subprocess.run(
        [str(SIM), "ssh", f"find {SEARCHED} -xdev -name '*.json' -type f -size -8M "
         "-print0 2>/dev/null | tar -c --null -T - -f - 2>/dev/null"],
        capture_output=True, check=False,
    )  # fmt: skip
    out = {}
    with tarfile.open(fileobj=io.BytesIO(p.stdout)) as t:
        for m in t.getmembers():
            f = t.extractfile(m)
            if f is not None:
                out["/" + m.name] = f.read().decode(errors="replace")
    return out


def holders(host: SimHost, values: list[str]) -> dict[str, str]:
    """Where on the host any form of `values` is: file -> 'mode owner' (files found by grep
    on every encoding; JSON stores decoded), plus the journal."""
    patterns = "\n".join(f for v in values for f in forms(v)) + "\n"
    found = host.sh(
        f"grep -rlsF -f /dev/stdin {SEARCHED} 2>/dev/null | "
        'while read -r f; do echo "$(stat -L -c \'%a %U\' "$f") $f"; done || true',
        stdin=patterns,
    )
    out = {ln.split(" ", 2)[2]: " ".join(ln.split(" ", 2)[:2]) for ln in found.splitlines()}
    for path, text in json_stores(host).items():
        if any(v in s for s in _decoded(text) for v in values) and path not in out:
            out[path] = host.sh(f"stat -L -c '%a %U' '{path}'").strip() + " (decoded)"
    journal = host.sh("journalctl --no-pager -o cat | grep -cF -f /dev/stdin; true", stdin=patterns)
    if int(journal.strip() or 0):
        out["the journal"] = "-"
    return out


def readable_by_others(host: SimHost, paths: list[str]) -> list[str]:
    """Those of `paths` a non-root user can read (parent directories count, as for a person)."""
    out = host.sh(
        "while read -r f; do setpriv --reuid=nobody --regid=nogroup --clear-groups "
        'head -c1 "$f" >/dev/null 2>&1 && echo "$f"; done; true',
        stdin="".join(f"{p}\n" for p in paths if p.startswith("/")),
    )
    return out.split()


def test_canary_never_in_plain_text(ms: MouseStack) -> None:
    host, st = ms.host, ms.stack
    checked: dict[str, bool] = {}
    pre = st.preview()
    checked["engine output: preview --diff"] = CANARY in pre.stdout + pre.stderr
    up = st.up()
    checked["engine output: up"] = CANARY in up.stdout + up.stderr
    checked["pulumi stack export"] = CANARY in st.export()
    checked["pulumi stack output"] = CANARY in st.run("stack", "output", "--json").stdout
    checked["the stack file"] = CANARY in (ms.project / "Pulumi.e2e-mouse.yaml").read_text()
    # The one place it must be: the root 0600 env file the unit's secrets are loaded from.
    assert f"RUSTFS_SECRET_KEY={CANARY}" in host.sh("cat /etc/homelab/env/rustfs.env")
    quadlet = host.sh("cat /etc/containers/systemd/rustfs.container")
    checked["rendered Quadlet file"] = CANARY in quadlet
    checked["mouse's Ignition"] = CANARY in str(st.outputs(show_secrets=True)["ignition"])
    found = holders(host, [CANARY])
    checked["host journal"] = "the journal" in found
    # The search must see the stores that legitimately hold it, decoded: else it proves nothing.
    assert STORE in found, f"podman's secret store, decoded, does not hold the canary: {found}"
    # /etc/homelab/env/rustfs.env is a link into the live generation (grep does not follow it).
    live = host.sh("readlink -f /etc/homelab/env/rustfs.env").strip()
    assert live.startswith("/etc/homelab/generations/") and live in found, (live, found)
    auth = host.sh("readlink -f /etc/homelab/images/auth.json").strip()
    assert auth.startswith("/etc/homelab/generations/") and auth in found, (auth, found)
    # Every file on the host holding it must be root-only: root-owned, unreadable by others.
    bad = readable_by_others(host, list(found))
    bad += [f"{p} ({how})" for p, how in found.items() if p.startswith("/") and " root" not in how]
    checked["host files readable by a non-root user"] = bool(bad)
    leaks = [where for where, leaked in checked.items() if leaked]
    print(
        f"\ncanary: {len(checked)} kinds of location checked (host: every file under "
        f"{SEARCHED} in {len(forms(CANARY))} encodings, every JSON store decoded, the "
        f"journal); {len(found)} host files hold it, all root-only unless listed "
        f"({'; '.join(f'{p} {h}' for p, h in found.items())}); {len(leaks)} with a leak: "
        f"{leaks} {bad}"
    )
    assert leaks == [], (leaks, bad)


def _restarts(host: SimHost, units: tuple[str, ...]) -> dict[str, tuple[str, str]]:
    return {u: (host.unit(u)["InvocationID"], host.unit(u)["NRestarts"]) for u in units}


def test_rotation_restarts_only_the_users_and_leaves_no_old_value(ms: MouseStack) -> None:
    host = ms.host
    units = ("rustfs.service", "navidrome.service", "netdata.service")
    nav = host.sh("podman exec navidrome sh -c 'echo $ND_KEY'").strip()
    assert nav == NAV_KEY
    before = _restarts(host, units)

    # navidrome's secret changes: navidrome restarts, rustfs (other secrets) does not.
    ms.set_secret("navidromeKey", NAV_KEY_NEW)
    ms.stack.up()
    after = _restarts(host, units)
    assert host.sh("podman exec navidrome sh -c 'echo $ND_KEY'").strip() == NAV_KEY_NEW
    assert after["navidrome.service"][0] != before["navidrome.service"][0]
    assert after["rustfs.service"] == before["rustfs.service"]
    assert after["netdata.service"] == before["netdata.service"]

    # rustfs's secret changes (and the registry password, which held the canary too): rustfs
    # restarts, navidrome does not (the auth file has no unit).
    ms.set_secret("rustfsSecretKey", CANARY_NEW)
    ms.set_secret("registryPassword", CANARY_NEW)
    ms.stack.up()
    last = _restarts(host, units)
    got = host.sh("podman exec rustfs sh -c 'echo $RUSTFS_SECRET_KEY'").strip()
    assert got == CANARY_NEW
    assert last["rustfs.service"][0] != after["rustfs.service"][0]
    assert last["navidrome.service"] == after["navidrome.service"]
    assert last["netdata.service"] == after["netdata.service"]
    assert {n for _, n in last.values()} == {"0"}, f"a unit restarted by itself: {last}"

    # The old values are nowhere on the host, in any encoding, in any store; the new ones are
    # where they belong (so the search does see them).
    old = holders(host, [CANARY, NAV_KEY])
    new = holders(host, [CANARY_NEW, NAV_KEY_NEW])
    gens = host.sh("ls /etc/homelab/generations").split()
    print(f"\nrotation: {len(gens)} generations kept; old values found in {sorted(old)}; "
          f"new ones in {sorted(new)}")  # fmt: skip
    assert old == {}, f"old secret values still on the host: {old}"
    live = host.sh("readlink -f /etc/homelab/env/rustfs.env").strip()
    assert STORE in new and live in new, new
    assert len(gens) >= 3, gens  # older generations exist, and were searched


def test_data_survives_every_destructive_operation(ms: MouseStack) -> None:
    host, st = ms.host, ms.stack
    st.set("homelab:containers.navidrome.enabled", "true")
    st.up()
    assert wait_http(host, 4533).strip() == "homelab-sim"
    markers = {n: f"{DATA}/{n}/data/marker" for n in ("rustfs", "navidrome")}
    for n, m in markers.items():
        host.sh(f"echo 'precious {n}' > {m}")

    def lost() -> list[str]:
        return [m for m in markers.values() if host.sh(f"cat {m} 2>/dev/null || true") == ""]

    ops: list[tuple[str, list[str]]] = []
    # Rename: the same container under a new name (file and stack key), same data paths.
    src = ms.project / "containers" / "navidrome.container"
    shutil.copy(src, ms.project / "containers" / "music.container")
    st.set("homelab:containers.navidrome.enabled", "false")
    st.set("homelab:containers.music.data_owner", "1000:1000")
    st.up()
    assert host.unit("music.service")["ActiveState"] == "active"
    assert host.unit("navidrome.service")["ActiveState"] != "active"
    ops.append(("rename a container", lost()))

    st.set("homelab:containers.music.enabled", "false")  # remove it from the stack
    st.up()
    assert host.unit("music.service")["ActiveState"] != "active"
    ops.append(("remove a container from the stack", lost()))

    st.run("up", "--yes", "--skip-preview", "--replace", st.urn("pulumi-python:dynamic:Resource"))
    ops.append(("replace the host resource", lost()))

    st.run("destroy", "--yes", "--skip-preview")
    ops.append(("pulumi destroy", lost()))
    # destroy leaves the host running as it was (the push's delete touches nothing).
    assert host.unit("rustfs.service")["ActiveState"] == "active"

    lost_total = sorted({m for _, ls in ops for m in ls})
    print(f"\ndata: {len(ops)} destructive operations tried, {len(lost_total)} data files lost")
    assert lost_total == [], ops
