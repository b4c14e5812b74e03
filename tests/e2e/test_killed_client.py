"""`pulumi up` of the mouse-shaped stack killed at random moments, then run again.

Real parts only: the pulumi CLI with the project's own program (tests/e2e/mouse_stack.py),
its language host and the dynamic provider, OpenSSH, and the simulated host. Each round
pushes a real change (netdata's memory limit, and navidrome added or removed: files appear,
change and go, units restart, start and stop), then SIGKILLs the CLI and every plugin it
started (`vmlab.kill_tree`) at a moment drawn from a seeded RNG (the seed is printed; set
HOMELAB_KILL_SEED to replay a run):
- half the rounds: a delay drawn from the whole length of an `up` (measured first), so kills
  land in the engine's start, the preview, the reads, the transfer, the apply, the state
  writes;
- the others: a short random delay after a change seen on the host (its root fs watched from
  this machine): the staging dir appears, the new generation appears, `current` switches,
  the apply logs its end.

After each kill, once no push runs on the host (apply.sh goes on when its client dies: it
ignores the dropped connection), the host holds the old or the new generation, never a
mix: every managed path resolves to exactly one plan's content, and `current` is complete
against its own manifest. Then what README tells a user: `pulumi up`; when the engine says
the stack is locked, `pulumi cancel` and `pulumi up` again. That converges: the host holds
the new plan, its units are active, one generation per content, and no staging dir,
temporary link, `pending` file or lock is left (on the host or in the backend).

Wall time: about 3 minutes for 8 kills (the default) on the 2-core machine.
"""

from __future__ import annotations

import os
import random
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.e2e import vmlab
from tests.e2e.generations import (
    HOMELAB,
    duplicates,
    generations,
    incomplete,
    leftovers,
    recover,
    settle,
)
from tests.e2e.mouse_stack import MouseStack, new_mouse_stack
from tests.e2e.simhost import SimHost

pytestmark = [pytest.mark.simhost, pytest.mark.tools]

# 8 in CI (its time budget); HOMELAB_KILLS=N sets more, or fewer for a quick break-check.
KILLS = int(os.environ.get("HOMELAB_KILLS") or 8)
# After a change seen on the host, the kill comes within this many seconds.
AFTER_EVENT = 0.4


@dataclass
class Lab:
    ms: MouseStack
    work: Path
    up_seconds: float


@pytest.fixture(scope="module")
def lab(mouse_host: SimHost, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    work = tmp_path_factory.mktemp("killed-client")
    ms = new_mouse_stack(mouse_host, work)
    t0 = time.monotonic()
    ms.stack.up()
    yield Lab(ms, work, time.monotonic() - t0)


def _gens() -> set[str]:
    return set(os.listdir(HOMELAB / "generations")) if (HOMELAB / "generations").is_dir() else set()


def _current() -> str:
    try:
        return os.path.basename(os.readlink(HOMELAB / "current"))
    except OSError:
        return ""


def _events(before_gens: set[str], before_cur: str) -> dict[str, Callable[[], bool]]:
    """Changes on the host during a push, in the order they happen."""

    def new_gen() -> str:
        fresh = sorted(_gens() - before_gens)
        return fresh[-1] if fresh else ""

    def ended() -> bool:
        g = new_gen()
        log = HOMELAB / "generations" / g / "apply.log"
        return bool(g) and log.exists() and "HOMELAB-OK" in log.read_text(errors="replace")

    return {
        "staging dir appears": lambda: any(n.startswith(".incoming.") for n in os.listdir(HOMELAB)),
        "new generation appears": lambda: bool(new_gen()),
        "current switches": lambda: _current() not in ("", before_cur),
        "apply logs its end": ended,
    }


def _kill_up(lab: Lab, log: Path, wait: Callable[[], bool], delay: float) -> tuple[float, bool]:
    """Start `pulumi up --yes`, SIGKILL the CLI and its plugins `delay` s after `wait()`.
    Returns when, and whether the kill hit a running `up` (a late moment may find it done)."""
    proc = lab.ms.stack.popen("up", "--yes", log=log)
    t0 = time.monotonic()
    try:
        while not wait():
            assert proc.poll() is None, f"up ended before the kill:\n{log.read_text()}"
            assert time.monotonic() - t0 < 180, "the awaited moment never came"
            time.sleep(0.005)
        time.sleep(delay)
    finally:
        alive = proc.poll() is None
        vmlab.kill_tree(vmlab.process_tree(proc.pid))
        proc.wait()
    return time.monotonic() - t0, alive


def test_up_killed_at_random_moments_leaves_old_or_new_and_converges(lab: Lab) -> None:
    ms, host = lab.ms, lab.ms.host
    seed = int(os.environ.get("HOMELAB_KILL_SEED") or random.SystemRandom().randrange(10**6))
    rng = random.Random(seed)
    print(f"\nkill seed {seed} (HOMELAB_KILL_SEED={seed} replays it); an up takes "
          f"{lab.up_seconds:.1f} s")  # fmt: skip
    outcomes: dict[str, int] = {"old": 0, "new": 0}
    missed, i = 0, -1
    while outcomes["old"] + outcomes["new"] < KILLS:
        i += 1
        # A moment drawn after the end of that `up` kills nothing: it counts as no kill.
        assert missed <= KILLS, f"{missed} moments came after the up had finished"
        old_plan = ms.plan()
        navidrome = any(c.name == "navidrome" for c in old_plan.containers)
        ms.stack.set("homelab:containers.netdata.memory_max", f"{1200 + i}M")
        ms.stack.set("homelab:containers.navidrome.enabled", "false" if navidrome else "true")
        new_plan = ms.plan()
        paths = ms.managed_paths(old_plan, new_plan)
        old, new = ms.expected_tree(paths, old_plan), ms.expected_tree(paths, new_plan)
        assert old != new and host.tree(paths) == old

        gens, cur = _gens(), _current()
        if i % 2 == 0:
            delay = rng.uniform(0, 0.9 * lab.up_seconds)
            what, wait = f"{delay:.2f} s after start", lambda: True
        else:
            name, wait = rng.choice(list(_events(gens, cur).items()))
            delay = rng.uniform(0, AFTER_EVENT)
            what = f"{delay:.2f} s after '{name}'"
        at, killed = _kill_up(lab, lab.work / f"killed-{i}.log", wait, delay)

        waited = settle(host)
        tree = host.tree(paths)
        assert tree in (old, new), f"kill {i} ({what}): a mix of old and new: {tree}"
        assert incomplete(host) == [], f"kill {i} ({what})"
        landed = "new" if tree == new else "old"
        if killed:
            outcomes[landed] += 1
        else:
            missed += 1
            what += " (the up had finished: not a kill)"

        steps = recover(ms.stack, ms.project.parent / "state")
        assert host.tree(paths) == new, f"kill {i} ({what}): the next up did not converge"
        assert incomplete(host) == []
        for u in sorted(new_plan.fileset.units):
            assert host.unit(u)["ActiveState"] == "active", (i, u)
        if navidrome:
            assert host.unit("navidrome.service")["ActiveState"] != "active"
        gl = generations(host)
        assert duplicates(gl) == [], f"kill {i} ({what}): {gl}"
        left = leftovers(host, ms.project.parent / "state")
        assert left == [], f"kill {i} ({what}): left behind: {left}"
        print(f"kill {i:2}: {what:40} (at {at:5.2f} s): host {landed}, apply settled "
              f"{waited:4.1f} s later; then {' + '.join(steps)}")  # fmt: skip
    print(f"{KILLS} kills survived: host old after {outcomes['old']}, new after "
          f"{outcomes['new']}; every next up converged ({missed} moments after the end of "
          "their up)")  # fmt: skip
    ms.stack.preview("--expect-no-changes")
