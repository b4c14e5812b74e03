"""A host booted for the first time from an Ignition config: `scripts/sim-host firstboot`.

The real Ignition binary applies the config to a clean first-boot image, which then boots with
systemd-nspawn. The host runs in its own network namespace (`homelab-e2e-fb`), so it can run
beside the default simulated host (127.0.0.1:2222, same container ports) in one test session;
this machine reaches it at 10.231.71.2 through a veth pair. Its state lives in
/var/lib/homelab-sim-firstboot. The fixture powers it off and removes the namespace when done,
also on failure. Nothing here skips: a missing tool fails with the command that installs it.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from homelab.cli.build import load
from homelab.fileset import FileSet, sha256
from homelab.host.layout import HostLayout
from homelab.host.stack import StackFiles
from homelab.quadlet.values import PublishedPort
from tests.e2e.pulumi_cli import REPO, Stack, new_stack, project_copy, require_tools

SIM = REPO / "scripts" / "sim-host"
STATE = Path("/var/lib/homelab-sim-firstboot")
NETNS = "homelab-e2e-fb"
NET = "10.231.71"
ADDRESS = f"{NET}.2"
PORT = 2222
# What every stand-in image serves (scripts/sim-host images_script).
STANDIN_BODY = "homelab-sim"
BUSYBOX = "/usr/local/share/homelab-sim/busybox"


def _run(argv: list[str], **kw: Any) -> subprocess.CompletedProcess[str]:
    if kw.get("input") is None:
        kw["stdin"] = subprocess.DEVNULL  # ssh would read the test run's own stdin
    return subprocess.run(argv, text=True, capture_output=True, check=False, **kw)


@dataclass
class FirstBootHost:
    env: dict[str, str] = field(
        default_factory=lambda: dict(
            os.environ,
            HOMELAB_SIM_STATE=str(STATE),
            HOMELAB_SIM_NETNS=NETNS,
            HOMELAB_SIM_NET=NET,
            HOMELAB_SIM_PORT=str(PORT),
        )
    )
    address: str = ADDRESS
    port: int = PORT
    timings: str = ""

    def script(
        self, *args: str, timeout: float = 300, stdin: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        return _run([str(SIM), *args], env=self.env, timeout=timeout, input=stdin)

    @property
    def root(self) -> Path:
        """The host's root file system, seen from this machine (below any mount inside it)."""
        return STATE / "root"

    @property
    def host_key(self) -> str:
        return self.script("hostkey").stdout.strip()

    @property
    def key_path(self) -> str:
        return self.script("key").stdout.strip()

    def boot(self, ign: Path, pool: Path | None = None) -> None:
        """Ignition on a clean first-boot image, then its first boot (powers off any previous)."""
        args = ["firstboot", str(ign)] + (["--pool", str(pool)] if pool else [])
        p = self.script(*args, timeout=1200)
        if p.returncode != 0:
            pytest.fail(
                f"scripts/sim-host {' '.join(args)} failed ({p.returncode}):\n"
                f"{p.stdout}{p.stderr}\nIt needs root, systemd-container, debootstrap's root fs "
                "(scripts/sim-host build), the ignition binary (scripts/install-tools coreos) "
                "and policycoreutils (apt-get install policycoreutils).",
                pytrace=False,
            )
        self.timings = p.stdout.strip().splitlines()[-1]

    def down(self) -> None:
        self.script("down")

    def sh(self, script: str, check: bool = True, stdin: str | None = None) -> str:
        """`script` as root on the host (the simulation's console access, not Ignition's)."""
        p = self.script("ssh", script, timeout=120, stdin=stdin)
        if check and p.returncode != 0:
            raise AssertionError(f"host command failed ({p.returncode}): {script}\n{p.stderr}")
        return p.stdout

    def ssh_as(self, user: str, command: str) -> subprocess.CompletedProcess[str]:
        """A login as `user` with the test key, the host key pinned: what a person does."""
        kh = STATE / "known_hosts.test"
        kh.write_text(f"[{self.address}]:{self.port} {self.host_key}\n")
        return _run(
            [
                "ssh", "-i", self.key_path, "-p", str(self.port), "-o", "BatchMode=yes",
                "-o", "StrictHostKeyChecking=yes", "-o", f"UserKnownHostsFile={kh}",
                "-o", "GlobalKnownHostsFile=/dev/null", "-o", "ConnectTimeout=5",
                "-o", "IdentitiesOnly=yes", f"{user}@{self.address}", command,
            ],
            timeout=60,
        )  # fmt: skip

    def files_holding(self, values: list[str]) -> dict[str, bool]:
        """Files under /etc /home /root /var/lib /run holding any of `values` -> whether
        `core` can read it. The values go on stdin: even a canary stays off command lines."""
        out = self.sh(
            "grep -rlF -D skip -f /dev/stdin /etc /home /root /var/lib /run | while read -r f;"
            ' do if runuser -u core -- cat "$f" >/dev/null 2>&1; then r=yes; else r=no; fi;'
            ' printf "%s\\t%s\\n" "$f" "$r"; done',
            stdin="".join(v + "\n" for v in values),
        )
        return {f: r == "yes" for f, r in (line.split("\t") for line in out.splitlines())}

    def wait_active(self, units: list[str], timeout: float = 90) -> dict[str, str]:
        """Each unit's ActiveState once all are active, or when `timeout` runs out."""
        deadline = time.monotonic() + timeout
        while True:
            states = self.states(units)
            if all(s == "active" for s in states.values()) or time.monotonic() > deadline:
                return states
            time.sleep(1)

    def states(self, units: list[str]) -> dict[str, str]:
        out = self.sh("systemctl show -p Id -p ActiveState " + " ".join(units))
        res: dict[str, str] = {}
        for block in out.strip().split("\n\n"):
            kv = dict(line.split("=", 1) for line in block.splitlines() if "=" in line)
            res[kv["Id"]] = kv["ActiveState"]
        return res

    def http(self, port: int, timeout: float = 30) -> str:
        """GET http://127.0.0.1:PORT/ from inside the host, retried until it answers."""
        deadline = time.monotonic() + timeout
        while True:
            # (busybox wget -T crashes: the timeout comes from coreutils)
            p = self.script("ssh", f"timeout 5 {BUSYBOX} wget -q -O - http://127.0.0.1:{port}/")
            if p.returncode == 0 or time.monotonic() > deadline:
                return p.stdout if p.returncode == 0 else f"<no answer: {p.stderr.strip()}>"
            time.sleep(1)

    def stat(self, paths: list[str]) -> dict[str, tuple[str, ...]]:
        """path -> ("file", mode, uid, gid, sha256) | ("dir", mode, uid, gid) |
        ("link", target) | ("missing",), read on the host without following links."""
        script = STAT_SH + "".join(f"st {shlex.quote(p)}\n" for p in paths)
        out: dict[str, tuple[str, ...]] = {}
        for line in self.sh(script).splitlines():
            path, *rest = line.split("\t")
            out[path] = tuple(rest)
        return out


STAT_SH = r"""st() {
  if [ -L "$1" ]; then printf '%s\tlink\t%s\n' "$1" "$(readlink "$1")"
  elif [ -f "$1" ]; then
    printf '%s\tfile\t%s\t%s\n' "$1" "$(stat --printf '%a\t%u\t%g' "$1")" \
      "$(sha256sum <"$1" | cut -c1-64)"
  elif [ -d "$1" ]; then printf '%s\tdir\t%s\n' "$1" "$(stat --printf '%a\t%u\t%g' "$1")"
  else printf '%s\tmissing\n' "$1"; fi
}
"""


def expected_state(
    fs: FileSet, contents: dict[str, str], ignition_only: bool = True
) -> dict[str, tuple[str, ...]]:
    """What `FirstBootHost.stat` must show for every path of `fs` Ignition wrote."""
    exp: dict[str, tuple[str, ...]] = {}
    for f in fs.files:
        if ignition_only and not f.in_ignition:
            continue
        exp[f.path] = ("file", f"{f.mode:o}", str(f.uid), str(f.gid), sha256(contents[f.path]))
    for d in fs.dirs:
        if ignition_only and not d.in_ignition:
            continue
        exp[d.path] = ("dir", f"{d.mode:o}", str(d.uid), str(d.gid))
    for ln in fs.links:
        exp[ln.path] = ("link", ln.target)
    return exp


def tcp_ports(plan: HostLayout) -> dict[str, list[int]]:
    """service -> the TCP host ports its container publishes."""
    out: dict[str, list[int]] = {}
    for c in plan.containers:
        ports = []
        for spec in c.ports:
            p = PublishedPort.parse(spec)
            if p.protocol == "tcp" and p.host_range:
                ports.extend(range(p.host_range[0], p.host_range[1] + 1))
        out[c.service] = ports
    return out


@dataclass
class Project:
    """A project copy with the two first-boot stacks: e2e-mouse and e2e-vm."""

    dir: Path
    tmp: Path
    stacks: dict[str, Stack]

    def plan(self, stack: str) -> HostLayout:
        return load(stack, self.dir, StackFiles(self.dir))

    def build(self, stack: str) -> Path:
        """`python -m homelab build STACK`: the .ign a user would hand to a machine."""
        out = self.tmp / "out" / stack
        p = subprocess.run(
            [sys.executable, "-m", "homelab", "build", stack, "--out", str(out),
             "--project", str(self.dir)],
            cwd=REPO, env=self.stacks[stack].env, capture_output=True, text=True, check=False,
        )  # fmt: skip
        assert p.returncode == 0, p.stderr
        return out / f"{stack}.ign"

    def previous_pool(
        self, host: FirstBootHost, plan: HostLayout, files: dict[str, str], snapshot: str
    ) -> Path:
        """mouse's pool as a reinstall finds it, a real ZFS pool (zfs-fuse) on a disk file in
        the returned directory, exported: the plan's datasets as earlier pushes made them
        (homelab:created=`snapshot`, each with DATASET@homelab-`snapshot`, taken last), the
        data directories (modes, owners) and `files` (path under the pool -> content)."""
        pool = self.tmp / "pool"
        script = []
        if plan.fileset.datasets:
            parent = plan.fileset.datasets[0].name.rsplit("/", 1)[0]
            script.append(f"zfs create -o canmount=off -o homelab:created={snapshot} {parent}")
        for ds in plan.fileset.datasets:
            script.append(
                f"zfs create -o mountpoint={ds.mountpoint} -o homelab:created={snapshot} "
                + " ".join(f"-o {k}={v}" for k, v in ds.properties)
                + f" {ds.name}"
            )
        for d in plan.fileset.dirs:
            p = shlex.quote(d.path)
            script.append(f"mkdir -p {p}; chown {d.uid}:{d.gid} {p}; chmod {d.mode:o} {p}")
        for rel, text in files.items():
            script.append(f"printf %s {shlex.quote(text)} >{shlex.quote('/var/tank/' + rel)}")
        script += [f"zfs snapshot {ds.name}@homelab-{snapshot}" for ds in plan.fileset.datasets]
        p = host.script("pool", str(pool), "\n".join(script), timeout=300)
        assert p.returncode == 0, p.stdout + p.stderr
        return pool


def _stack_file(project: Path, real: str, name: str, edit: Callable[[dict], None]) -> None:
    doc = yaml.safe_load((project / f"Pulumi.{real}.yaml").read_text())
    edit(doc["config"])
    (project / f"Pulumi.{name}.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))


def make_project(tmp: Path, host: FirstBootHost, secrets: dict[str, str]) -> Project:
    """The real Pulumi.mouse.yaml and Pulumi.vm-test.yaml as e2e-mouse and e2e-vm, changed
    only where pointing them at `host` needs it: the test key as core's key, the host's
    address and pinned key under `homelab:ssh`, e2e-vm inheriting from e2e-mouse, and
    e2e-vm in Europe/Berlin (not UTC, the image's own zone) so a lost timezone shows."""
    proj = project_copy(tmp / "project")
    key = Path(host.key_path + ".pub").read_text().strip()

    def mouse(c: dict) -> None:
        c["homelab:host"]["ssh_authorized_keys"] = [key]
        c["homelab:ssh"] = {
            "host": host.address,
            "port": host.port,
            "user": "core",
            "host_key": host.host_key,
            "private_key_path": host.key_path,
        }

    def vm(c: dict) -> None:
        c["homelab:base_stack"] = "e2e-mouse"
        c["homelab:host"]["timezone"] = "Europe/Berlin"

    _stack_file(proj, "mouse", "e2e-mouse", mouse)
    _stack_file(proj, "vm-test", "e2e-vm", vm)
    stacks = {}
    for name in ("e2e-mouse", "e2e-vm"):
        st = new_stack(proj, tmp / "state", name)
        for k, v in secrets.items():
            st.set_secret(k, v)
        stacks[name] = st
    return Project(proj, tmp, stacks)


@pytest.fixture(scope="module")
def firstboot_host() -> Iterator[FirstBootHost]:
    require_tools("ignition", "butane", "ignition-validate", "quadlet")
    host = FirstBootHost()
    try:
        yield host
    finally:
        # Powered off and its network namespace removed, whatever happened.
        host.down()
