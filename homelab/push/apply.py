"""Send a new generation and apply it: one SSH command running remote/apply.sh."""

from __future__ import annotations

from dataclasses import dataclass

from homelab.push.errors import PushError


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


def remote_errors(out: str, err: str) -> str:
    """What apply.sh said went wrong (its HOMELAB-ERROR lines and plain output), else ssh's
    stderr."""
    msgs = [ln.removeprefix("HOMELAB-ERROR: ") for ln in out.splitlines()]
    return "\n".join(m for m in msgs if not m.startswith("HOMELAB-")) or err.strip()


def apply_outcome(host: str, rc: int, out: str, err: str) -> ApplyResult:
    """What a run of apply.sh came to: its result, or PushError saying what happened (a run
    that did not end with HOMELAB-OK did not finish, whatever its exit code)."""
    res = parse_apply_output(out)
    if rc != 0 and "HOMELAB-ERROR" not in out:
        raise PushError(
            f"push to {host} died (exit {rc}) before it finished; the host keeps the old "
            f"or the new generation. Remote output:\n{out.strip()}\n{err.strip()}"
        )
    if rc != 0 or res is None:
        raise PushError(f"push to {host} failed (exit {rc}):\n{remote_errors(out, err)}")
    return res
