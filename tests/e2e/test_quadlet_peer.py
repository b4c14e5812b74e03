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
from pathlib import Path

import pytest

from homelab.quadlet import KIND_GROUP, check, newer_than_5_4, parse_unit
from homelab.tools import quadlet_generate

CORPUS = Path(__file__).resolve().parents[3] / "shared" / "peer" / "podman-quadlet"
if not CORPUS.is_dir():  # CI lays shared/ beside the clone
    CORPUS = Path(os.environ.get("HOMELAB_SHARED", "../shared")) / "peer" / "podman-quadlet"
HAVE_CORPUS = (CORPUS / "EXPECTED-WARNINGS-AND-ERRORS.tsv").is_file()
NO_CORPUS = "no-corpus"  # the one parameter each test gets when the corpus is absent


def _need_corpus() -> None:
    if not HAVE_CORPUS:
        pytest.fail(
            f"podman's Quadlet corpus is expected at {CORPUS.resolve()} (with its "
            "EXPECTED-WARNINGS-AND-ERRORS.tsv): lay ../shared beside the clone, or set "
            "HOMELAB_SHARED to the folder holding peer/podman-quadlet"
        )


def _tsv() -> list[list[str]]:
    with (CORPUS / "EXPECTED-WARNINGS-AND-ERRORS.tsv").open() as fh:
        return list(csv.reader(fh, delimiter="\t"))[1:]


_TSV = _tsv() if HAVE_CORPUS else []
UNITS = (
    sorted(p.name for p in CORPUS.iterdir() if p.is_file() and p.suffix in KIND_GROUP)
    if HAVE_CORPUS
    else []
)
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

# Units podman (May 2026) reports a problem with, but the 5.4.2 generator here accepts without
# a word (the check came later): unit -> what newer podman says. Our lint reports them too.
NEWER_CHECKS: dict[str, str] = {
    "dependent.error.container": "unable to translate dependency",
    "exec-unsupported-escape.container": "unsupported escape char",
    "label-unsupported-escape.container": "unsupported escape char",
    "multiple-yaml-set-working-dir-yaml.kube": "SetWorkingDirectory=yaml with several Yaml=",
    "service-dynamicuser.build": "DynamicUser= in [Service]",
    "service-dynamicuser.container": "DynamicUser= in [Service]",
    "service-dynamicuser.image": "DynamicUser= in [Service]",
    "service-dynamicuser.kube": "DynamicUser= in [Service]",
    "service-dynamicuser.network": "DynamicUser= in [Service]",
    "service-dynamicuser.pod": "DynamicUser= in [Service]",
    "service-dynamicuser.volume": "DynamicUser= in [Service]",
    "service-group.container": "Group= in [Service]",
    "service-user.container": "User= in [Service]",
}


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


def _dryrun(d: Path) -> tuple[dict[str, str], list[str]]:
    run = quadlet_generate(d)
    msgs = list(run.messages)
    if run.returncode != 0:
        msgs.append(f"quadlet exited {run.returncode}")
    return run.units(), msgs


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    """unit -> (original's units, original's messages, canonical's units, canonical's msgs,
    the original's folder). Empty without the corpus (each test then fails saying so)."""
    if not HAVE_CORPUS:
        return {}
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


def _verdict(unit: str, generated) -> tuple[str, str]:
    """How our canonical text of an accepted unit fares with the real generator:
    ("identical" | "rerun" (identical to a re-run: Go map order) | "gap" | "FAIL", detail)."""
    o_units, o_msgs, c_units, c_msgs, odir = generated[unit]
    service = parse_unit(TEXT[unit], unit).service_name
    refused = [m for m in _mentions(o_msgs, unit) if not m.startswith("Warning")]
    if unit in VERSION_GAPS:
        # The generator here really refuses it, for the reason recorded ...
        reason = VERSION_GAPS[unit]
        if not refused and service in o_units:
            return "FAIL", f"{unit} is no longer a version gap"
        if not any(reason in m for m in o_msgs):
            return "FAIL", f"{unit}: expected {reason!r}, podman 5.4.2 says {o_msgs}"
        # ... and our 5.4 compatibility check names the key it refuses.
        key = re.fullmatch(r"unsupported key '(\w+)'", reason)
        if key or unit.endswith(".artifact"):
            ours = newer_than_5_4(parse_unit(TEXT[unit], unit))
            if not ours or (key and not any(p.key == key.group(1) for p in ours)):
                return "FAIL", f"{unit}: newer_than_5_4 says {ours}, not {reason!r}"
        return "gap", reason
    if service not in o_units or refused:
        return "FAIL", f"podman 5.4.2 refuses {unit} (a version gap? add it): {o_msgs}"
    # Every stderr line but "Loading source ..." is a failure, unless the original gives
    # the very same one (a warning podman also prints for the original).
    if sorted(c_msgs) != sorted(o_msgs):
        return "FAIL", f"messages differ: canonical {c_msgs}, original {o_msgs}"
    if c_units == o_units:
        return "identical", ""
    # Some podman code paths iterate Go maps, so argument order can differ from run to run
    # for the very same file; accept only an output the original itself produced.
    if c_units in [_dryrun(odir)[0] for _ in range(20)]:
        return "rerun", ""
    return "FAIL", f"canonical text of {unit} generates a different unit"


@pytest.fixture(scope="module")
def verdicts(generated) -> dict[str, tuple[str, str]]:
    return {u: _verdict(u, generated) for u in ACCEPTED} if HAVE_CORPUS else {}


def test_corpus_is_there():
    _need_corpus()
    assert len(UNITS) > 250 and len(EXPECTED) > 30, (CORPUS, len(UNITS), len(EXPECTED))


@pytest.mark.parametrize("unit", ACCEPTED or [NO_CORPUS])
def test_accepted_unit_lints_without_error(unit, generated):
    _need_corpus()
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


@pytest.mark.parametrize("unit", ACCEPTED or [NO_CORPUS])
def test_render_is_idempotent(unit):
    _need_corpus()
    once = parse_unit(TEXT[unit], unit).render()
    assert parse_unit(once, unit).render() == once


@pytest.mark.parametrize("unit", ACCEPTED or [NO_CORPUS])
def test_canonical_text_generates_identically(unit, verdicts):
    _need_corpus()
    kind, detail = verdicts[unit]
    assert kind != "FAIL", detail


@pytest.mark.parametrize("unit", sorted(EXPECTED) or [NO_CORPUS])
def test_expected_problem_is_reported(unit, generated):
    _need_corpus()
    problems = check(TEXT[unit], unit, siblings={unit})
    assert problems, f"{unit}: podman expects {EXPECTED[unit]!r}, we report nothing"
    expected = EXPECTED[unit]
    assert any(expected in p.message for p in problems), (expected, [str(p) for p in problems])
    # ... and the real generator here complains too, unless the check is newer than it.
    o_units, o_msgs = generated[unit][0], generated[unit][1]
    service = parse_unit(TEXT[unit], unit, []).service_name
    quiet = not o_msgs and service in o_units
    assert quiet == (unit in NEWER_CHECKS), (
        f"podman 5.4.2 says {o_msgs or 'nothing'} about {unit}; "
        + ("remove it from NEWER_CHECKS" if unit in NEWER_CHECKS else "add it to NEWER_CHECKS")
    )


def test_version_gaps_are_real_units():
    _need_corpus()
    assert set(VERSION_GAPS) <= set(ACCEPTED)
    assert set(NEWER_CHECKS) <= set(EXPECTED)


def test_newer_keys_only_in_gap_units():
    """No unit outside VERSION_GAPS uses a key our table says 5.4 lacks."""
    _need_corpus()
    flagged = {u for u in ACCEPTED if newer_than_5_4(parse_unit(TEXT[u], u))}
    assert flagged <= set(VERSION_GAPS), flagged - set(VERSION_GAPS)


def test_summary(verdicts, capsys):
    """The figures the suite exists for, printed even without -s; computed here, so they do
    not depend on which other tests ran, or in which order."""
    _need_corpus()
    by_kind: dict[str, list[str]] = {}
    for unit, (kind, detail) in verdicts.items():
        by_kind.setdefault(kind, []).append(f"{unit}: {detail}" if detail else unit)
    warned = [u for u in ACCEPTED if check(TEXT[u], u, set(UNITS))]
    reported = [
        u
        for u in EXPECTED
        if any(EXPECTED[u] in p.message for p in check(TEXT[u], u, siblings={u}))
    ]
    identical = len(by_kind.get("identical", [])) + len(by_kind.get("rerun", []))
    gaps = by_kind.get("gap", [])
    with capsys.disabled():
        print(f"\nquadlet peer suite: {len(UNITS)} corpus units, {len(ACCEPTED)} accepted")
        print(f"  identical generator output from canonical text: {identical}/{len(ACCEPTED)}")
        print(
            f"    (of which matched only a re-run, Go map order: {len(by_kind.get('rerun', []))})"
        )
        print(f"  accepted with a warning (podman warns too): {len(warned)}")
        print(f"  expected errors/warnings reported by our lint: {len(reported)}/{len(EXPECTED)}")
        print(f"    (of which podman 5.4.2 does not check yet: {len(NEWER_CHECKS)})")
        print(f"  version gaps (keys newer than podman 5.4.2): {len(gaps)}")
        for g in gaps:
            print("    " + g)
    assert by_kind.get("FAIL", []) == []
    assert identical + len(gaps) == len(ACCEPTED)
    assert len(reported) == len(EXPECTED)
