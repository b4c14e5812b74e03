"""Bench `pulumi up/preview -s mouse` through the real program against the simulated host.

A mouse-shaped stack (tests/e2e/mouse_stack.py: the real Pulumi.mouse.yaml with only
homelab:ssh pointed at the sim host) is pushed once, then these run interleaved, N times each,
so machine noise hits them alike:

  floor      `pulumi preview` of a zero-resource program on the same language host (uv)
  dynfloor   the same with one no-op dynamic resource: the floor plus what Pulumi's dynamic
             provider costs by itself (its process: python + `import pulumi` + gRPC)
  preview    a no-change `pulumi preview -s mouse`
  up         a no-change `pulumi up --yes -s mouse` (its preview, then the update)
  read       the host read alone (homelab.push.read_live: one SSH connection, no engine)

and it prints their medians side by side, the ratio preview / (floor + read) against the
target (1.5), SSH connections per command (sshd's "Accepted publickey" lines), and where a
no-change preview spends its time (from the engine's own log and an `ssh` wrapper that
timestamps every SSH command).

    source scripts/env.sh
    flock /tmp/homelab-simhost.lock uv run python bench/bench_push.py [--runs 5]
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from homelab import push  # noqa: E402
from homelab.manifest import files  # noqa: E402
from tests.e2e.mouse_stack import MouseStack, build_stand_ins, new_mouse_stack  # noqa: E402
from tests.e2e.pulumi_cli import Stack, _unpackaged, new_stack  # noqa: E402
from tests.e2e.simhost import SimHost, start_simhost, stop_simhost  # noqa: E402

FLOOR_PROGRAM = "import pulumi  # zero resources: the engine + language host floor\n"
DYN_FLOOR_PROGRAM = """import pulumi
from pulumi.dynamic import CheckResult, DiffResult, CreateResult, Resource, ResourceProvider


class NoopProvider(ResourceProvider):  # the dynamic provider's own cost: no work at all
    def check(self, olds, news):
        return CheckResult(news, [])

    def diff(self, id_, olds, news):
        return DiffResult(changes=False)

    def create(self, props):
        return CreateResult("noop", props)


class Noop(Resource):
    def __init__(self, name):
        super().__init__(NoopProvider(), name, {"x": 1})


Noop("noop")
"""
SSH_WRAPPER = """#!/bin/sh
# bench: timestamps every ssh call into $HOMELAB_BENCH_SSH_LOG, then runs the real client.
s=$(date +%s.%N)
{real} "$@"
rc=$?
printf '%s %s %s\\n' "$s" "$(date +%s.%N)" "$rc" >>"$HOMELAB_BENCH_SSH_LOG"
exit $rc
"""


def timed(fn: Callable[[], Any]) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def floor_stack(tmp: Path, name: str = "floor", program: str = FLOOR_PROGRAM) -> Stack:
    project = tmp / name
    project.mkdir()
    (project / "Pulumi.yaml").write_text(
        f"name: {name}\nruntime:\n  name: python\n  options:\n    toolchain: uv\n"
    )
    (project / "__main__.py").write_text(program)
    # Unpackaged, as every test copy: `uv sync` there must not repoint the shared venv.
    _unpackaged(project)
    st = new_stack(project, tmp / f"{name}-state", f"e2e-{name}")
    st.run("up", "--yes", "--skip-preview")
    return st


def _ts(stamp: str) -> float:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


# (label, regex on the engine's log message); the first match of each is a milestone.
MILESTONES = [
    ("langhost", r"newPlugin\(\): Launching plugin 'python'"),
    ("required", r"GetRequiredPackages\(.*\) success"),
    ("run", r"langhost\[python\]\.Run\(.*\) executing"),
    ("stack", r"registering resource: ty=pulumi:pulumi:Stack"),
    ("first_res", r"registering resource: ty=homelab:"),
    ("dyn_reg", r"registering resource: ty=pulumi-python:dynamic:Resource"),
    ("cmd_launch", r"Launching plugin 'command \(resource\)'"),
    ("cmd_ready", r"CheckConfig\(urn:[^)]*pulumi:providers:command"),
    ("dyn_launch", r"Launching plugin 'pulumi-python \(resource\)'"),
    ("dyn_ready", r"CheckConfig\(urn:[^)]*pulumi:providers:pulumi-python"),
    ("check", r"\.Check\(urn:[^)]*dynamic:Resource[^)]*\) executing"),
    ("checked", r"\.Check\(urn:[^)]*dynamic:Resource[^)]*\) success"),
    ("diffed", r"\.Diff\(urn:[^)]*dynamic:Resource[^)]*\) success"),
    ("run_done", r"langhost\[python\]\.Run\(.*\) success"),
]


def breakdown(ms: MouseStack, tmp: Path) -> dict[str, float]:
    """One verbose no-change preview, cut into phases (seconds)."""
    log = tmp / "ssh.log"
    log.unlink(missing_ok=True)
    push.close_shared(push.Connection(**ms.host.connection()))
    env = dict(ms.stack.env, HOMELAB_BENCH_SSH_LOG=str(log))
    env["PATH"] = f"{tmp / 'wrap'}:{env['PATH']}"
    t0 = time.time()
    p = subprocess.run(
        ["pulumi", "preview", "--stack", ms.stack.name, "--non-interactive",
         "--logtostderr", "--logflow", "-v=9"],
        cwd=ms.project, env=env, capture_output=True, text=True, check=True,
    )  # fmt: skip
    t_end = time.time()
    at: dict[str, float] = {}
    for line in p.stderr.splitlines():
        try:
            rec = json.loads(line)
        except ValueError:
            continue
        msg = rec.get("msg", "")
        for label, rx in MILESTONES:
            if label not in at and re.search(rx, msg):
                at[label] = _ts(rec["time"])
    missing = [label for label, _ in MILESTONES if label not in at]
    if missing:
        raise SystemExit(f"engine log lacks milestones {missing}; did the engine change?")
    ssh = [tuple(map(float, ln.split()[:2])) for ln in log.read_text().splitlines()]
    return {
        "CLI start until the language host launches": at["langhost"] - t0,
        "language host start (metadata, uv sync, required packages)": at["run"] - at["langhost"],
        "program: python + SDK start (as the floor)": at["stack"] - at["run"],
        "program: import and planning (quadlet, butane, ignition-validate)": (
            at["first_res"] - at["stack"]
        ),
        "program: registering resources": at["dyn_reg"] - at["first_res"],
        "plugin start: command (Go)": at["cmd_ready"] - at["cmd_launch"],
        "plugin start: dynamic provider (python -m pulumi.dynamic)": (
            at["dyn_ready"] - at["dyn_launch"]
        ),
        "  of which overlapped with the program": max(0.0, at["dyn_reg"] - at["dyn_launch"]),
        "dynamic provider check (incl. SSH)": at["checked"] - at["check"],
        "  SSH commands inside it": sum(e - s for s, e in ssh),
        "  SSH commands (count)": float(len(ssh)),
        "dynamic provider diff": at["diffed"] - at["checked"],
        "program end until the CLI exits": t_end - at["run_done"],
        "total (wall)": t_end - t0,
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    host: SimHost = start_simhost()
    try:
        build_stand_ins()
        with tempfile.TemporaryDirectory(prefix="bench-mouse-") as d:
            run(host, Path(d), args.runs)
    finally:
        stop_simhost()


def run(host: SimHost, tmp: Path, n: int) -> None:
    wrap = tmp / "wrap"
    wrap.mkdir()
    (wrap / "ssh").write_text(SSH_WRAPPER.format(real=shutil.which("ssh")))
    (wrap / "ssh").chmod(0o755)
    ms = new_mouse_stack(host, tmp / "mouse")
    st = ms.stack
    floor = floor_stack(tmp)
    dynfloor = floor_stack(tmp, "dynfloor", DYN_FLOOR_PROGRAM)
    conn = push.Connection(**host.connection())
    desired = push.Desired.of(ms.plan().fileset)

    first = timed(st.up)
    units = ms.units()
    print(f"mouse-shaped stack: {len(units)} units, {len(list(files(desired.manifest)))} files")
    print(f"first `pulumi up --yes` (nothing on the host yet): {first:.2f} s")

    def cold() -> None:
        # No shared connection left from the previous command: a fresh SSH handshake.
        push.close_shared(conn)

    kinds = ("floor", "dynfloor", "read", "preview", "warm", "up")
    res: dict[str, list[float]] = {k: [] for k in kinds}
    for _ in range(n):
        res["floor"].append(timed(lambda: floor.run("preview")))
        res["dynfloor"].append(timed(lambda: dynfloor.run("preview")))
        cold()
        res["preview"].append(timed(lambda: st.preview("--expect-no-changes")))
        res["warm"].append(timed(lambda: st.preview("--expect-no-changes")))
        cold()
        res["up"].append(timed(lambda: st.up("--expect-no-changes")))
        res["read"].append(timed(lambda: push.read_live(conn, desired, share=False)))
    med = {k: statistics.median(v) for k, v in res.items()}
    print(f"\nmedians of {n} interleaved runs (s); preview and up start without a shared SSH")
    print("connection, `warm` is a preview right after another (its connection still open):")
    print("  " + " ".join(f"{k:>8}" for k in med))
    print("  " + " ".join(f"{v:8.2f}" for v in med.values()))
    base = med["floor"] + med["read"]
    ratio = med["preview"] / base
    print(
        f"no-change preview / (floor + read) = {ratio:.2f}  "
        f"(target <= 1.5: {'met' if ratio <= 1.5 else 'NOT met'}); "
        f"warm {med['warm'] / base:.2f}"
    )
    print(f"no-change up / (floor + read) = {med['up'] / base:.2f}")
    dyn = med["preview"] / (med["dynfloor"] + med["read"])
    print(
        f"no-change preview / (dynfloor + read) = {dyn:.2f}: against the engine's floor with "
        f"a dynamic provider in it (that provider alone: {med['dynfloor'] - med['floor']:+.2f} s)"
    )

    log = tmp / "ssh-count.log"
    counted = Stack(st.project, st.name, dict(st.env, HOMELAB_BENCH_SSH_LOG=str(log)))
    counted.env["PATH"] = f"{wrap}:{counted.env['PATH']}"

    def count(fn: Callable[[], Any]) -> str:
        cold()
        log.write_text("")
        conns = host.connections_during(fn)
        return f"{conns} connection(s), {len(log.read_text().splitlines())} SSH command(s)"

    print("\nSSH per command, from no shared connection (sshd 'Accepted publickey'; commands)")
    print(f"  no-change preview: {count(lambda: counted.preview())}")
    print(f"  no-change `up --yes` (preview + update): {count(counted.up)}")
    for memory, extra, label in (
        ("1100M", (), "`up --yes` with one changed container"),
        ("1G", ("--skip-preview",), "`up --yes --skip-preview` with one changed container"),
    ):
        st.set("homelab:containers.netdata.memory_max", memory)
        inv = host.unit("netdata.service")["InvocationID"]
        print(f"  {label}: {count(lambda extra=extra: counted.up(*extra))}")
        assert host.unit("netdata.service")["InvocationID"] != inv, "netdata was not restarted"

    print("\nwhere a no-change preview spends its time (one verbose run, cold SSH, s):")
    for label, v in breakdown(ms, tmp).items():
        print(f"  {label:<66} {v:6.0f}" if "(count)" in label else f"  {label:<66} {v:6.2f}")


if __name__ == "__main__":
    main()
