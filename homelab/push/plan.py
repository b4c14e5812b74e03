"""What `pulumi up` would do to a host, as text for `pulumi preview --diff`: a unified diff
per changed non-secret file (old: what the host has now, which is what was last pushed unless
someone changed it by hand), secret files named only, and the units that will restart, start
or stop, each with its reason. Mirrors remote/apply.sh's decisions: a unit restarts iff the
live content of one of its files differs from the new one."""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping

from homelab.manifest import DATASET_KEY, datasets, files
from homelab.push.desired import Desired
from homelab.push.live import LiveState, differences

MASK = "********"
# The plan's first line, and all a real `up` stores (see components/push.py): the engine shows
# a changed input as a line diff against the state's copy, so the next preview shows this line
# as context and every line of the new plan as added.
PLAN_HEAD = "what `pulumi up` does on the host:\n"


def unit_actions(
    desired: Desired, hashes: Mapping[str, str], live: LiveState
) -> list[tuple[str, str, str]]:
    """(action, unit, why) for every unit a push would restart, start or stop."""
    why: dict[str, list[str]] = {}
    for path, f in files(desired.manifest):
        lf = live.files.get(path)
        if lf is None or lf.sha256 != hashes[path]:
            for u in f["units"]:
                why.setdefault(u, []).append(f"{path} changed")
    for u in live.pending:
        why.setdefault(u, []).append("restart pending from an interrupted push")
    out = [("restart", u, ", ".join(dict.fromkeys(w))) for u, w in sorted(why.items())]
    for u in desired.units:
        if u not in why and live.units.get(u, "") != "active":
            out.append(("start", u, f"not active ({live.units.get(u) or 'unknown'})"))
    for u in sorted(set(live.old_units) - set(desired.units)):
        out.append(("stop", u, "no longer in the stack"))
    return out


NO_DATASETS = (
    "data: snapshots off: no ZFS datasets in this stack (they need host.zfs_pool and a "
    "container's `dataset`)\n"
)


def data_plan(desired: Desired, live: LiveState, starting: Mapping[str, str]) -> list[str]:
    """What the push does to the datasets (remote/datasets.sh decides the same way): create
    the missing ones, set the stack's properties on its own, report the others, use plain
    directories as they are, snapshot those whose units (re)start (`starting`: unit ->
    restart|start). Nothing when no unit (re)starts and no dataset changes."""
    dss = list(datasets(desired.manifest))
    if not dss:
        return [NO_DATASETS] if starting else []
    out, changes = ["data:\n"], False
    for ds in dss:
        name, mp, props = ds["dataset"], ds["mountpoint"], ds["properties"]
        ld = live.datasets.get(name)
        state = ld.state if ld else "missing"
        shown = ",".join(f"{k}={v}" for k, v in sorted(props.items())) or "default properties"
        if state == "nozfs":
            out.append(f"  {name}: this host has no zfs command: the push will fail\n")
            continue
        if state == "plain":
            out.append(f"  {mp} is a plain directory with data: used as it is, no snapshots\n")
            continue
        if state == "missing":
            changes = True
            out.append(f"  create {name} at {mp} ({shown})\n")
        elif ld is not None and ld.diffs:
            for k, v in sorted(ld.diffs.items()):
                if ld.ours:
                    changes = True
                    out.append(f"  set {k}={props[k]} on {name} (now {v})\n")
                else:
                    out.append(
                        f"  {name}: {k} is {v}, the stack says {props[k]}; not changed "
                        "(homelab did not create it)\n"
                    )
        units = [u for u in ds["units"] if u in starting]
        if units:
            why = ", ".join(f"{u} {starting[u]}s" for u in units)
            out.append(f"  snapshot {name}@homelab-<new generation> before {why}\n")
    # Nothing happens to the data when no unit (re)starts and nothing is created or set:
    # then a no-change preview stays empty.
    return out if (changes or starting) and len(out) > 1 else []


def render_plan(
    desired: Desired,
    contents: Mapping[str, str],
    hashes: Mapping[str, str],
    live: LiveState,
    secret_values: Iterable[str] = (),
) -> str:
    """The plan as text (PLAN_HEAD alone when the host already matches). `secret_values`:
    strings that must never appear (masked if a non-secret file happens to hold one)."""
    parts: list[str] = []
    for path, f in files(desired.manifest):
        lf = live.files.get(path)
        if lf is not None and lf.sha256 == hashes[path]:
            continue
        if f["secret"]:
            what = "new" if lf is None else "content differs"
            parts.append(f"secret file {path}: {what} (values not shown)\n")
            continue
        if lf is not None and path not in live.texts:
            parts.append(f"{path}: content differs (not text, or over 64 KiB)\n")
            continue
        old = live.texts.get(path, "")
        diff = difflib.unified_diff(
            old.splitlines(keepends=True),
            contents[path].splitlines(keepends=True),
            fromfile="/dev/null" if lf is None else f"{path} (on the host)",
            tofile=f"{path} (after up)",
        )
        parts.append("".join(ln if ln.endswith("\n") else ln + "\n" for ln in diff))
    # Everything else `up` changes (modes, owners, links, directories, files it removes or
    # moves aside): file contents are in the diffs above, units in `units:` below.
    other = []
    for item, why in differences(desired, hashes, live).items():
        if item.startswith(("unit:", DATASET_KEY)):
            continue  # said under `units:` and `data:` below
        # Before the first push no file is a link yet; linking them all is what a first
        # push does, not news.
        rest = [
            w
            for w in why.split("; ")
            if not w.startswith("content differs")
            and not (live.pushed is None and w.startswith("not linked"))
        ]
        if rest and rest != ["missing"]:
            other.append(f"  {item}: {'; '.join(rest)}\n")
    if other:
        parts.append("also:\n")
        parts += other
    actions = unit_actions(desired, hashes, live)
    if actions:
        parts.append("units:\n")
        parts += [f"  {a} {u}: {why}\n" for a, u, why in actions]
    parts += data_plan(desired, live, {u: a for a, u, _ in actions if a in ("restart", "start")})
    text = PLAN_HEAD + "".join(parts)
    for v in sorted(secret_values, key=len, reverse=True):
        if len(v) >= 4:
            text = text.replace(v, MASK)
    return text


def secret_strings(secret_files: Mapping[str, str]) -> list[str]:
    """The values in rendered secret env files (KEY=VALUE lines), to be masked anywhere."""
    vals = []
    for content in secret_files.values():
        for line in content.splitlines():
            _, eq, value = line.partition("=")
            if eq and value.strip():
                vals.append(value)
    return vals
