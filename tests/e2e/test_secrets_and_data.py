"""Secrets end to end and data that survives every operation, on the simulated host.

Real engine, real dynamic provider, real sshd/systemd/podman. (The homelab program itself
needs the `command` plugin, which cannot be had here; the push test program carries the
same FileSet shape: Quadlet files, a secret env file, data dirs.)
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.e2e.simhost import (
    WEB_IMAGE,
    Pulumi,
    SimHost,
    simhost,  # noqa: F401  (fixture)
)

pytestmark = [pytest.mark.simhost, pytest.mark.tools]

CANARY = "canary-51d2e8-do-not-leak"
DATA = "/var/tank/services"


def spec_of(*names: str, rev: str = "1") -> dict[str, Any]:
    ports = {"vault1": 18191, "vault2": 18192, "vault3": 18193}
    return {"containers": {n: {"image": WEB_IMAGE, "port": ports[n], "rev": rev} for n in names}}


@pytest.fixture(scope="module")
def stack(simhost: SimHost, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pulumi]:  # noqa: F811
    pl = Pulumi(tmp_path_factory.mktemp("secrets"), stack="secrets")
    pl.configure(simhost.connection(), spec_of("vault1", "vault2"))
    pl.run("config", "set", "-s", pl.stack, "--secret", "pushtest:webPassword", CANARY)
    yield pl


def _set_spec(stack: Pulumi, spec: dict[str, Any]) -> None:
    import json

    stack.run("config", "set", "-s", stack.stack, "pushtest:spec", json.dumps(spec))


def test_canary_never_in_plain_text(stack: Pulumi, simhost: SimHost) -> None:  # noqa: F811
    checked: dict[str, bool] = {}
    pre = stack.run("preview", "--diff", "-s", stack.stack)
    checked["engine output: preview --diff"] = CANARY in pre.stdout + pre.stderr
    up = stack.run("up", "--yes", "-s", stack.stack)
    checked["engine output: up"] = CANARY in up.stdout + up.stderr
    exported = stack.run("stack", "export", "-s", stack.stack).stdout
    checked["pulumi stack export"] = CANARY in exported
    outs = stack.run("stack", "output", "--json", "-s", stack.stack).stdout
    checked["pulumi stack output"] = CANARY in outs
    # The one place it must be: the root 0600 env file the unit reads.
    assert f"WEB_PASSWORD={CANARY}" in simhost.sh("cat /etc/homelab/env/vault1.env")
    quadlet = simhost.sh("cat /etc/containers/systemd/vault1.container")
    checked["rendered Quadlet file"] = CANARY in quadlet
    journal = simhost.sh(f"journalctl --no-pager -o cat | grep -c '{CANARY}' || true")
    checked["host journal"] = int(journal.strip() or 0) > 0
    # Every file on the host holding it must be root-only: root-owned, and unreadable by any
    # other user (checked as `nobody`, so parent directories count, as they do for a person).
    found = simhost.sh(
        f"grep -rlsF '{CANARY}' /etc /var /root /home /tmp /run 2>/dev/null | "
        "while read -r f; do stat -L -c '%a %U %n' \"$f\"; "
        'setpriv --reuid=nobody --regid=nogroup --clear-groups head -c1 "$f" '
        '>/dev/null 2>&1 && echo "READABLE $f"; done || true'
    )
    holders = [ln for ln in found.splitlines() if not ln.startswith("READABLE ")]
    bad = [ln for ln in found.splitlines() if ln.startswith("READABLE ")]
    bad += [ln for ln in holders if ln.split()[1] != "root"]
    checked["host files readable by a non-root user"] = bool(bad)
    leaks = [where for where, leaked in checked.items() if leaked]
    print(
        f"\ncanary: {len(checked)} kinds of location checked; {len(holders)} host files hold it, "
        f"all root-only unless listed ({'; '.join(holders)}); {len(leaks)} with a leak: "
        f"{leaks} {bad}"
    )
    assert leaks == [], (leaks, bad)


def test_rotation_restarts_only_the_units_using_it(stack: Pulumi, simhost: SimHost) -> None:  # noqa: F811
    before = {u: simhost.unit(f"{u}.service")["InvocationID"] for u in ("vault1", "vault2")}
    stack.run(
        "config", "set", "-s", stack.stack, "--secret", "pushtest:webPassword", CANARY + "-rotated"
    )
    stack.up()
    after = {u: simhost.unit(f"{u}.service")["InvocationID"] for u in ("vault1", "vault2")}
    assert f"WEB_PASSWORD={CANARY}-rotated" in simhost.sh("cat /etc/homelab/env/vault1.env")
    # Both units read the one password here, so both restart; nothing else does.
    assert all(before[u] != after[u] for u in before)
    _set_spec(stack, spec_of("vault1", "vault2", rev="1"))


def test_data_survives_every_destructive_operation(stack: Pulumi, simhost: SimHost) -> None:  # noqa: F811
    markers = {n: f"{DATA}/{n}/marker" for n in ("vault1", "vault2")}
    for n, m in markers.items():
        simhost.sh(f"echo 'precious {n}' > {m}")

    def lost() -> list[str]:
        return [
            m for m in markers.values() if simhost.sh(f"cat {m} 2>/dev/null || true").strip() == ""
        ]

    ops: list[tuple[str, list[str]]] = []
    _set_spec(stack, spec_of("vault1"))  # remove vault2 from the stack
    stack.up()
    ops.append(("remove a container from the stack", lost()))
    assert simhost.unit("vault2.service").get("ActiveState") != "active"

    _set_spec(stack, spec_of("vault3"))  # rename vault1 -> vault3
    stack.up()
    ops.append(("rename a container", lost()))

    urn = next(
        ln.split()[-1]
        for ln in stack.run("stack", "--show-urns", "-s", stack.stack).stdout.splitlines()
        if "pulumi-python:dynamic:Resource" in ln and "urn:" in ln
    )
    stack.run("up", "--yes", "--skip-preview", "--replace", urn, "-s", stack.stack)
    ops.append(("replace the host resource", lost()))

    stack.run("destroy", "--yes", "--skip-preview", "-s", stack.stack)
    ops.append(("pulumi destroy", lost()))

    lost_total = sorted({m for _, ls in ops for m in ls})
    print(f"\ndata: {len(ops)} destructive operations tried, {len(lost_total)} data files lost")
    assert lost_total == [], ops
