"""The push's effects: every SSH command it runs (the read, the apply) and the shared
connection's private socket directory. The rest of homelab.push is pure: what to send
(desired), how to read what comes back (live, apply), the transport's argv (ssh)."""

from __future__ import annotations

import os
import subprocess
import tempfile
import time
from collections.abc import Callable, Mapping
from pathlib import Path

from homelab.push.apply import (
    APPLY_COMMAND,
    CONFIRM_COMMAND,
    GEN_ID,
    ApplyResult,
    Armed,
    apply_outcome,
    remote_errors,
)
from homelab.push.desired import (
    PULL_TIMEOUT,
    Desired,
    build_tar,
    desired_hashes,
    generation_id,
)
from homelab.push.errors import PushError
from homelab.push.live import READ_COMMAND, LiveState, parse_live, read_script
from homelab.push.ssh import Connection, control_path, known_hosts_line, private_dir, ssh_argv


def mux_dir() -> Path | None:
    """A private directory for the shared connections' sockets, or None (then no sharing).

    Anyone who could reach a socket could run commands as the pushing user on the host, so
    the directory must be ours alone: owned by this user, mode 0700, not a symlink.
    """
    base = Path(os.environ.get("XDG_RUNTIME_DIR") or tempfile.gettempdir())
    d = base / f"homelab-ssh-mux-{os.getuid()}"
    try:
        d.mkdir(mode=0o700, exist_ok=True)
        st = os.lstat(d)
    except OSError:
        return None
    return d if private_dir(st, os.getuid()) else None


def close_shared(conn: Connection) -> None:
    """End the shared connection to `conn`, if any (the next command opens a new one)."""
    d = mux_dir()
    if d is None or not control_path(conn, d).exists():
        return
    subprocess.run(
        ["ssh", "-o", f"ControlPath={control_path(conn, d)}", "-O", "exit", "-p", str(conn.port),
         "-l", conn.user, conn.host],
        capture_output=True, check=False, timeout=30,
    )  # fmt: skip


def run_ssh(
    conn: Connection,
    remote: str,
    stdin: bytes,
    timeout: float,
    share: bool = True,
    connect_timeout: int = 15,
) -> tuple[int, str, str]:
    """One SSH command (over the shared connection when `share`). Returns (exit code, stdout,
    stderr); 255 is ssh's own failure."""
    from homelab.push.sshfail import explain_ssh_failure, host_key_problem

    if problem := host_key_problem(conn):
        raise PushError(problem)
    with tempfile.TemporaryDirectory(prefix="homelab-ssh-") as tmp:
        kh = Path(tmp, "known_hosts")
        kh.write_text(known_hosts_line(conn))
        kh.chmod(0o600)
        d = mux_dir() if share else None
        try:
            p = subprocess.run(
                ssh_argv(
                    conn, str(kh), remote, control_path(conn, d) if d else None, connect_timeout
                ),
                input=stdin,
                capture_output=True,
                timeout=timeout,
                check=False,
            )
        except FileNotFoundError as exc:
            raise PushError("OpenSSH client not found: apt-get install openssh-client") from exc
        except subprocess.TimeoutExpired as exc:
            raise PushError(f"ssh {conn.user}@{conn.host}:{conn.port} timed out") from exc
    out, err = p.stdout.decode(errors="replace"), p.stderr.decode(errors="replace")
    if p.returncode == 255 and not out:
        raise PushError(explain_ssh_failure(conn, err))
    return p.returncode, out, err


def read_live(
    conn: Connection,
    desired: Desired,
    timeout: float = 120,
    share: bool = True,
    texts_unless: Mapping[str, str] | None = None,
) -> LiveState:
    """One SSH command: the live state of everything in `desired`."""
    script = read_script(desired, texts_unless).encode()
    rc, out, err = run_ssh(conn, READ_COMMAND, script, timeout, share)
    if rc != 0:
        why = " / ".join(ln.strip() for ln in err.splitlines() if ln.strip())
        raise PushError(
            f"reading the state of {conn.host} port {conn.port} failed (exit {rc}): {why}"
        )
    return parse_live(out)


def apply(
    conn: Connection,
    desired: Desired,
    contents: Mapping[str, str],
    secrets: Mapping[str, str],
    health_timeout: int,
    settle: int,
    now: float | None = None,
    confirm: int = 0,
    pull_timeout: int = PULL_TIMEOUT,
    snapshots_keep: int = 5,
) -> ApplyResult:
    """One SSH connection: send the new generation and apply it (validate, switch, restart).
    With `confirm` > 0 the host arms a revert that `confirm_generation` must disarm."""
    hashes = desired_hashes(desired.manifest, contents, secrets)
    gen = generation_id(desired, hashes, time.time() if now is None else now)
    data = build_tar(
        desired, contents, secrets, gen, health_timeout, settle, confirm, pull_timeout,
        snapshots_keep,
    )  # fmt: skip
    budget = 120 + health_timeout + settle + 30 * max(1, len(desired.units))
    budget += pull_timeout * len(desired.images)
    try:
        rc, out, err = run_ssh(conn, APPLY_COMMAND, data, budget)
    except PushError:
        if not confirm:
            raise
        # The connection was cut (perhaps by the new generation itself): whether the host
        # switched and armed a revert, only a new connection can tell.
        rc, out, err = 255, "", ""
    return apply_outcome(conn.host, rc, out, err, confirm, gen)


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
    # After the host's own deadline it has reverted: keep asking a while longer (as long
    # again, at most a minute) to say so truly.
    while clock() < deadline + min(wait, 60):
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
