"""Send a new generation and apply it: one SSH command running remote/apply.sh."""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass

from homelab.push.desired import Desired, build_tar, desired_hashes, generation_id
from homelab.push.errors import PushError
from homelab.push.ssh import Connection, run_ssh


# The remote command stays short because sudo logs it; the script travels in the tar.
def staged_command(script: str, with_arg: bool = False) -> str:
    """Unpack the tar on stdin into a fresh staging dir under /etc/homelab and run `script`
    from it; `with_arg`: the script also gets the command's one argument (`$0` of sh -c)."""
    arg = ' "$0"' if with_arg else ""
    return (
        "sh -c 'mkdir -p /etc/homelab && d=$(mktemp -d /etc/homelab/.incoming.XXXXXX) && "
        f'tar -x -C "$d" && exec sh "$d/{script}" "$d"{arg}\''
    )


APPLY_COMMAND = staged_command("apply.sh")


@dataclass
class ApplyResult:
    generation: str
    restarted: list[str]
    started: list[str]
    stopped: list[str]
    log: str


def parse_apply_output(out: str) -> ApplyResult | None:
    res = ApplyResult("", [], [], [], out)
    for line in out.splitlines():
        word, _, rest = line.partition(" ")
        if word == "HOMELAB-OK":
            res.generation = rest.strip()
        elif word == "HOMELAB-RESTARTED":
            res.restarted.append(rest.strip())
        elif word == "HOMELAB-STARTED":
            res.started.append(rest.strip())
        elif word == "HOMELAB-STOPPED":
            res.stopped.append(rest.strip())
    return res if res.generation else None


def apply(
    conn: Connection,
    desired: Desired,
    contents: Mapping[str, str],
    secrets: Mapping[str, str],
    health_timeout: int,
    settle: int,
    now: float | None = None,
    snapshots_keep: int = 5,
) -> ApplyResult:
    """One SSH connection: send the new generation and apply it (validate, switch, restart)."""
    hashes = desired_hashes(desired.manifest, contents, secrets)
    gen = generation_id(desired, hashes, time.time() if now is None else now)
    data = build_tar(desired, contents, secrets, gen, health_timeout, settle, snapshots_keep)
    budget = 120 + health_timeout + settle + 30 * max(1, len(desired.units))
    rc, out, err = run_ssh(conn, APPLY_COMMAND, data, budget)
    res = parse_apply_output(out)
    if rc != 0 and "HOMELAB-ERROR" not in out:
        raise PushError(
            f"push to {conn.host} died (exit {rc}) before it finished; the host keeps the old "
            f"or the new generation. Remote output:\n{out.strip()}\n{err.strip()}"
        )
    if rc != 0 or res is None:
        raise PushError(f"push to {conn.host} failed (exit {rc}):\n{remote_errors(out, err)}")
    return res


def remote_errors(out: str, err: str) -> str:
    """What apply.sh said went wrong (its HOMELAB-ERROR lines and plain output), else ssh's
    stderr."""
    msgs = [ln.removeprefix("HOMELAB-ERROR: ") for ln in out.splitlines()]
    return "\n".join(m for m in msgs if not m.startswith("HOMELAB-")) or err.strip()
