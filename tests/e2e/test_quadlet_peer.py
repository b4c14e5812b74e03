"""podman's own Quadlet corpus as a peer suite for homelab.quadlet, against podman's real
generator (`quadlet -dryrun`, podman 5.4.2 from Debian 13, installed by scripts/install-tools).

- every unit podman accepts parses and lints with no error;
- every unit podman rejects or warns about (EXPECTED-WARNINGS-AND-ERRORS.tsv, and the files
  carrying podman's own `## assert-failed`) is reported by our lint, with a related message;
- for every accepted unit, the real generator makes the same systemd units from our
  canonical text as from the original (SourcePath= and the directory name aside);
- units using keys newer than the generator here are VERSION_GAPS: the test checks that the
  real generator does refuse the original, so the list cannot silently rot.
Run with `-s` (or see the terminal summary) for the counts.
"""

from __future__ import annotations

import csv
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from homelab.quadlet import check, newer_than_5_4, parse_unit
from homelab.quadlet.keys import KIND_GROUP
from homelab.tools import ToolError, tool

CORPUS = Path(__file__).resolve().parents[3] / "shared" / "peer" / "podman-quadlet"
if not CORPUS.is_dir():  # CI lays shared/ beside the clone
    CORPUS = Path(os.environ.get("HOMELAB_SHARED", "../shared")) / "peer" / "podman-quadlet"

_TSV = list(csv.reader((CORPUS / "EXPECTED-WARNINGS-AND-ERRORS.tsv").open(), delimiter="\t"))[1:]
UNITS = sorted(p.name for p in CORPUS.iterdir() if p.is_file() and p.suffix in KIND_GROUP)
TEXT = {u: (CORPUS / u).read_text() for u in UNITS}


def _expected_message(unit: str) -> str | None:
    """podman's expected error/warning for a unit it rejects or warns about, else None."""
    m = re.search(r'^## assert-stderr-contains "(.*)"$', TEXT[unit], re.M)
    if m:
        return m.group(1)
    for name, _kind, msg in _TSV:
        if name == unit:
            msg = re.sub(r'^(converting "[^"]+": |Warning: )', "", msg)
            return msg.removeprefix(unit + " ").split(". ")[0]
    if re.search(r"^## assert-failed", TEXT[unit], re.M):
        return ""
    return None


EXPECTED = {u: m for u in UNITS if (m := _expected_message(u)) is not None}
ACCEPTED = [u for u in UNITS if u not in EXPECTED]

# Units podman (May 2026) accepts but the podman 5.4.2 generator here refuses: unit -> what
# 5.4.2 says. "unsupported key" ones must also be flagged by our newer_than_5_4().
VERSION_GAPS: dict[str, str] = {
    "apparmor.container": "unsupported key 'AppArmor'",
    "buildarg.build": "unsupported key 'BuildArg'",
    "delete.network": "unsupported key 'NetworkDeleteOnStop'",
    "hostname.pod": "unsupported key 'HostName'",
    "httpproxy-false.container": "unsupported key 'HttpProxy'",
    "httpproxy-true.container": "unsupported key 'HttpProxy'",
    "ignorefile.build": "unsupported key 'IgnoreFile'",
    "interface-name.network": "unsupported key 'InterfaceName'",
    "label.pod": "unsupported key 'Label'",
    "memory.container": "unsupported key 'Memory'",
    "policy.image": "unsupported key 'Policy'",
    "reloadcmd.container": "unsupported key 'ReloadCmd'",
    "reloadsignal.container": "unsupported key 'ReloadSignal'",
    "retry.build": "unsupported key 'Retry'",
    "retry.container": "unsupported key 'Retry'",
    "retry.image": "unsupported key 'Retry'",
    "stoptimeout.pod": "unsupported key 'StopTimeout'",
    "volume-uid-gid.volume": "unsupported key 'UID'",
    # .artifact units are newer than 5.4: it does not read them at all.
    "basic.artifact": "No files parsed",
    "options.artifact": "No files parsed",
    # Behaviour changed after 5.4 (no new key):
    "mount-options.volume": "key Options can't be used without Device",
    "mount.container": "panic: runtime error: index out of range",  # type=volume, no source
    "no-workingdirectory-systemd-specifier.build": "relative path in File key requires",
}

_LOG = re.compile(r"^quadlet-generator\[\d+\]: ")
SUMMARY: dict[str, list[str]] = {
    "identical": [],
    "gap": [],
    "warned": [],
    "reported": [],
    "reruns": [],
}


def _dryrun(d: Path) -> tuple[dict[str, str], list[str]]:
    proc = subprocess.run(
        [tool("quadlet"), "-dryrun"],
        env={**os.environ, "QUADLET_UNIT_DIRS": str(d)},
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    units: dict[str, str] = {}
    name = None
    for line in proc.stdout.splitlines():
        m = re.fullmatch(r"---(.+)---", line)
        if m:
            name = m.group(1)
            units[name] = ""
        elif name and line.strip() and not line.startswith("SourcePath="):
            # Blank lines carry no meaning in a unit; the directory differs between runs.
            units[name] += line.replace(str(d), "DIR") + "\n"
    msgs = [_LOG.sub("", ln).strip() for ln in proc.stderr.splitlines()]
    # "Loading source unit file ..." / "Loading source drop-in file ..." are chatter.
    msgs = [m for m in msgs if m and not m.startswith("Loading source ")]
    if proc.returncode != 0:
        msgs.append(f"quadlet exited {proc.returncode}")
    return units, msgs


def _unit_dir(root: Path, unit: str, text: str) -> Path:
    """The unit (as `text`), every corpus unit its text names, and the drop-in dirs: one
    generator run per unit, so a unit that is refused cannot hide the others. As in
    podman's tests, a unit that is expected to fail gets none of the units it names."""
    d = root / unit
    d.mkdir()
    (d / unit).write_text(text)
    if unit in EXPECTED:
        return d
    for other in UNITS:
        if other != unit and other in text:
            shutil.copy(CORPUS / other, d / other)
    for dropin in CORPUS.glob("*.d"):
        shutil.copytree(dropin, d / dropin.name)
    return d


def _quadlet_or_fail() -> None:
    try:
        tool("quadlet")
    except ToolError as exc:
        pytest.fail(f"podman's quadlet generator is missing: {exc}")


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    """unit -> (original's units, original's messages, canonical's units, canonical's msgs)."""
    _quadlet_or_fail()
    orig, canon = tmp_path_factory.mktemp("orig"), tmp_path_factory.mktemp("canon")
    out = {}
    for unit in UNITS:
        o_units, o_msgs = _dryrun(_unit_dir(orig, unit, TEXT[unit]))
        c_units: dict[str, str] = {}
        c_msgs: list[str] = []
        if unit in ACCEPTED:
            rendered = parse_unit(TEXT[unit], unit).render()
            c_units, c_msgs = _dryrun(_unit_dir(canon, unit, rendered))
        out[unit] = (o_units, o_msgs, c_units, c_msgs, orig / unit)
    return out


def _mentions(msgs: list[str], unit: str) -> list[str]:
    return [m for m in msgs if re.search(rf"(^|[/\s\"]){re.escape(unit)}(\"|:|\s|$)", m)]


def test_corpus_is_there():
    assert len(UNITS) > 250 and len(EXPECTED) > 30, (CORPUS, len(UNITS), len(EXPECTED))


@pytest.mark.parametrize("unit", ACCEPTED)
def test_accepted_unit_lints_without_error(unit, generated):
    siblings = {p.name for p in generated[unit][4].iterdir()}
    problems = check(TEXT[unit], unit, siblings)
    errors = [str(p) for p in problems if p.severity == "error"]
    assert errors == []
    # A warning is fine only where podman's own generator warns about the same thing.
    o_msgs = generated[unit][1]
    for p in problems:
        assert any("Warning" in m and p.message.split(" (")[0] in m for m in o_msgs), (
            f"{p} (podman says: {o_msgs})"
        )
    if problems:
        SUMMARY["warned"].append(unit)


@pytest.mark.parametrize("unit", ACCEPTED)
def test_render_is_idempotent(unit):
    once = parse_unit(TEXT[unit], unit).render()
    assert parse_unit(once, unit).render() == once


@pytest.mark.parametrize("unit", ACCEPTED)
def test_canonical_text_generates_identically(unit, generated):
    o_units, o_msgs, c_units, c_msgs, odir = generated[unit]
    service = parse_unit(TEXT[unit], unit).service_name
    refused = [m for m in _mentions(o_msgs, unit) if not m.startswith("Warning")]
    if unit in VERSION_GAPS:
        # The generator here really refuses it, for the reason recorded ...
        reason = VERSION_GAPS[unit]
        assert refused or service not in o_units, f"{unit} is no longer a version gap"
        assert any(reason in m for m in o_msgs), (reason, o_msgs)
        # ... and our 5.4 compatibility check names the key it refuses.
        key = re.fullmatch(r"unsupported key '(\w+)'", reason)
        if key or unit.endswith(".artifact"):
            ours = newer_than_5_4(parse_unit(TEXT[unit], unit))
            assert ours and (not key or any(p.key == key.group(1) for p in ours)), ours
        SUMMARY["gap"].append(f"{unit}: {reason}")
        return
    assert service in o_units and not refused, (
        f"podman 5.4.2 refuses {unit} (a version gap? add it to VERSION_GAPS): {o_msgs}"
    )
    # Every stderr line but "Loading source unit file" is a failure, unless the original
    # gives the very same one (a warning podman also prints for the original).
    assert sorted(c_msgs) == sorted(o_msgs), (c_msgs, o_msgs)
    if c_units != o_units:
        # Some podman code paths iterate Go maps, so argument order can differ from run to
        # run for the very same file; accept only an output the original itself produced.
        runs = [_dryrun(odir)[0] for _ in range(20)]
        assert c_units in runs, "canonical text generates a different unit"
        SUMMARY["reruns"].append(unit)
    SUMMARY["identical"].append(unit)


@pytest.mark.parametrize("unit", sorted(EXPECTED))
def test_expected_problem_is_reported(unit, generated):
    problems = check(TEXT[unit], unit, siblings={unit})
    assert problems, f"{unit}: podman expects {EXPECTED[unit]!r}, we report nothing"
    expected = EXPECTED[unit]
    assert any(expected in p.message for p in problems), (expected, [str(p) for p in problems])
    # ... and the real generator here does complain about it (or is too old to know).
    o_msgs = generated[unit][1]
    SUMMARY["reported"].append(f"{unit}: {problems[0]}  [podman 5.4.2: {o_msgs[:1]}]")


def test_version_gaps_are_real_units():
    assert set(VERSION_GAPS) <= set(ACCEPTED)


def test_newer_keys_only_in_gap_units():
    """No unit outside VERSION_GAPS uses a key our table says 5.4 lacks."""
    flagged = {u for u in ACCEPTED if newer_than_5_4(parse_unit(TEXT[u], u))}
    assert flagged <= set(VERSION_GAPS), flagged - set(VERSION_GAPS)


def test_summary(generated, capsys):
    """Runs last in file order: prints the figures the suite exists for (even without -s)."""
    with capsys.disabled():
        _print_summary()
    assert len(SUMMARY["identical"]) + len(SUMMARY["gap"]) == len(ACCEPTED)


def _print_summary() -> None:
    ident, gaps = SUMMARY["identical"], SUMMARY["gap"]
    print(f"\nquadlet peer suite: {len(UNITS)} corpus units, {len(ACCEPTED)} accepted by podman")
    print(f"  identical generator output from canonical text: {len(ident)}/{len(ACCEPTED)}")
    print(
        f"    (of which matched only a re-run of the original, Go map order: "
        f"{len(SUMMARY['reruns'])})"
    )
    print(f"  accepted with a podman warning we also report: {len(SUMMARY['warned'])}")
    print(
        f"  expected errors/warnings reported by our lint: {len(SUMMARY['reported'])}"
        f"/{len(EXPECTED)}"
    )
    print(f"  version gaps (keys newer than podman 5.4.2): {len(gaps)}")
    for g in gaps:
        print("    " + g)
