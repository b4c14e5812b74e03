"""Send a new generation and apply it: one SSH command running remote/apply.sh."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

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


# The confirmation runs the revert.sh of the generation it confirms (a reverted one has
# become GEN.failed); the generation id is checked against GEN_ID before it goes into it.
CONFIRM_COMMAND = (
    'sh -c \'g=/etc/homelab/generations/$0; [ -d "$g" ] || g=$g.failed; '
    '[ -d "$g" ] || exec echo HOMELAB-NOGEN; exec sh "$g/revert.sh" confirm "$g"\''
)
GEN_ID = re.compile(r"[0-9]{8}T[0-9]{6}Z-[0-9a-z]+(-r[0-9]+)?")


@dataclass
class Armed:
    """A revert the host armed: back to `previous` unless `generation` is confirmed within
    `seconds`."""

    generation: str
    previous: str
    seconds: int


@dataclass
class ApplyResult:
    generation: str
    restarted: list[str]
    started: list[str]
    stopped: list[str]
    log: str
    armed: Armed | None = None
    switched: str = ""
    superseded: list[str] = field(default_factory=list)


def parse_apply_output(out: str) -> ApplyResult | None:
    res = ApplyResult("", [], [], [], out)
    for line in out.splitlines():
        word, _, rest = line.partition(" ")
        if word == "HOMELAB-OK":
            res.generation = rest.strip()
        elif word == "HOMELAB-SWITCHED":
            res.switched = rest.strip()
        elif word == "HOMELAB-SUPERSEDED":
            res.superseded.append(rest.strip())
        elif word == "HOMELAB-ARMED":
            gen, prev, secs = [*rest.split(), "", "", "0"][:3]
            res.armed = Armed(gen, prev, int(secs) if secs.isdigit() else 0)
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


def apply_outcome(
    host: str, rc: int, out: str, err: str, confirm: int = 0, gen: str = ""
) -> ApplyResult:
    """What a run of apply.sh came to: its result, or PushError saying what happened (a run
    that did not end with HOMELAB-OK did not finish, whatever its exit code). With `confirm`,
    a run cut off without a HOMELAB-ERROR is armed: only a new connection can tell whether
    the host switched (and then reverts by itself unless confirmed)."""
    res = parse_apply_output(out) or ApplyResult("", [], [], [], out)
    if confirm and rc != 0 and "HOMELAB-ERROR" not in out:
        res.armed = Armed(res.switched or gen, "", confirm)
        return res
    if rc != 0 and "HOMELAB-ERROR" not in out:
        raise PushError(
            f"push to {host} died (exit {rc}) before it finished; the host keeps the old "
            f"or the new generation. Remote output:\n{out.strip()}\n{err.strip()}"
        )
    if rc != 0:
        raise PushError(f"push to {host} failed (exit {rc}):\n{remote_errors(out, err)}")
    if not res.generation:
        raise PushError(
            f"push to {host} ended without its final HOMELAB-OK line (exit 0): the host's "
            "apply.sh did not finish as it should; run `pulumi preview` to see where the host "
            f"is. Last output: {_last_line(out) or '(none)'}"
        )
    return res


def _last_line(out: str) -> str:
    lines = [ln.strip() for ln in out.splitlines() if ln.strip()]
    return lines[-1] if lines else ""
