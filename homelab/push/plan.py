"""What `pulumi up` would do to a host, as text for `pulumi preview --diff`: a unified diff
per changed non-secret file (old: what the host has now, which is what was last pushed unless
someone changed it by hand), secret files named only, and the units that will restart, start
or stop, each with its reason. Mirrors remote/apply.sh's decisions: a unit restarts iff the
live content of one of its files differs from the new one."""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping

from homelab.manifest import files
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
        if item.startswith("unit:"):
            continue
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
