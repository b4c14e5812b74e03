"""Send a new generation and apply it: one SSH command running remote/apply.sh."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

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


def apply(
    conn: Connection,
    desired: Desired,
    contents: Mapping[str, str],
    secrets: Mapping[str, str],
    health_timeout: int,
    settle: int,
    now: float | None = None,
    confirm: int = 0,
) -> ApplyResult:
    """One SSH connection: send the new generation and apply it (validate, switch, restart).
    With `confirm` > 0 the host arms a revert that `confirm_generation` must disarm."""
    hashes = desired_hashes(desired.manifest, contents, secrets)
    gen = generation_id(desired, hashes, time.time() if now is None else now)
    data = build_tar(desired, contents, secrets, gen, health_timeout, settle, confirm)
    budget = 120 + health_timeout + settle + 30 * max(1, len(desired.units))
    try:
        rc, out, err = run_ssh(conn, APPLY_COMMAND, data, budget)
    except PushError:
        if not confirm:
            raise
        # The connection was cut (perhaps by the new generation itself): whether the host
        # switched and armed a revert, only a new connection can tell.
        rc, out, err = 255, "", ""
    res = parse_apply_output(out) or ApplyResult("", [], [], [], out)
    if confirm and rc != 0 and "HOMELAB-ERROR" not in out:
        # Lost the session after the switch (or before we heard): the host either confirms
        # nothing and reverts by itself, or never switched. Ask it over a new connection.
        res.armed = Armed(res.switched or gen, "", confirm)
        return res
    if rc != 0 and "HOMELAB-ERROR" not in out:
        raise PushError(
            f"push to {conn.host} died (exit {rc}) before it finished; the host keeps the old "
            f"or the new generation. Remote output:\n{out.strip()}\n{err.strip()}"
        )
    if rc != 0:
        raise PushError(f"push to {conn.host} failed (exit {rc}):\n{remote_errors(out, err)}")
    if not res.generation:
        raise PushError(
            f"push to {conn.host} ended without its final HOMELAB-OK line (exit 0): the host's "
            "apply.sh did not finish as it should; run `pulumi preview` to see where the host "
            f"is. Last output: {_last_line(out) or '(none)'}"
        )
    return res


def _last_line(out: str) -> str:
    lines = [ln.strip() for ln in out.splitlines() if ln.strip()]
    return lines[-1] if lines else ""


def confirm_generation(
    conn: Connection,
    armed: Armed,
    wait: float,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> None:
    """Confirm `armed.generation` over NEW SSH connections (never the shared one: the point
    is to prove a fresh login still works), retrying until `wait` seconds have passed, then
    a little longer only to learn what the host did. Raises PushError in one line when the
    host reverted (or cannot be reached to say so)."""
    if not GEN_ID.fullmatch(armed.generation):
        raise PushError(f"bad generation id from the host: {armed.generation!r}")
    deadline = clock() + wait
    last = ""
    # After the host's own deadline it has reverted: keep asking for a while to say so truly.
    while clock() < deadline + 60:
        try:
            rc, out, err = run_ssh(
                conn, f"{CONFIRM_COMMAND} {armed.generation}", b"", 30, share=False,
                connect_timeout=5,
            )  # fmt: skip
        except PushError as exc:
            last = str(exc)
            sleep(1)
            continue
        if rc == 0 and f"HOMELAB-CONFIRMED {armed.generation}" in out:
            return
        if "HOMELAB-NOGEN" in out:
            raise PushError(
                f"the push to {conn.host} was cut off before generation {armed.generation} "
                "existed on the host; the host keeps the old generation"
            )
        for line in out.splitlines():
            if line.startswith("HOMELAB-REVERTED "):
                prev = line.removeprefix("HOMELAB-REVERTED ").split("\t")[0].strip()
                raise PushError(
                    f"the host did not hear back within {armed.seconds} s; it rolled itself "
                    f"back to {prev}"
                )
        raise PushError(
            f"confirming generation {armed.generation} on {conn.host} failed (exit {rc}): "
            f"{remote_errors(out, err)}"
        )
    back = f" to {armed.previous}" if armed.previous else ""
    raise PushError(
        f"the host did not hear back within {armed.seconds} s and {conn.host} is still "
        f"unreachable ({last}); if the push got as far as the switch, the host rolls itself "
        f"back{back} on its own: check it from its console"
    )


def remote_errors(out: str, err: str) -> str:
    """What apply.sh said went wrong (its HOMELAB-ERROR lines and plain output), else ssh's
    stderr."""
    msgs = [ln.removeprefix("HOMELAB-ERROR: ") for ln in out.splitlines()]
    return "\n".join(m for m in msgs if not m.startswith("HOMELAB-")) or err.strip()
