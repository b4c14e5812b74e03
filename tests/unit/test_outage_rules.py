"""Lint rules from real outages (issue 20), each checked both ways, through `check_unit` (the
one path of `build` and `quadlet check`) and once through the `quadlet check` CLI.

- Restart= with a value systemd does not know (seapath/ansible #959: `unless-stopped`);
  Restart=always is accepted as well as on-failure (both restart a failed container);
- Notify=healthy without HealthCmd= (podup #1490: the start hangs);
- HealthStartPeriod= longer than TimeoutStartSec= with Notify=healthy (podman #27290);
- AutoUpdate=registry on an image pinned by digest (podman #21190).
"""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import pytest

from homelab.host.containers import check_unit
from homelab.host.problems import Problems
from homelab.quadlet import parse_unit, rules

REPO = Path(__file__).resolve().parents[2]
F = "containers/app.container"
DIGEST = "sha256:" + "ab" * 32


def unit_text(container: str = "", service: str = "Restart=on-failure\n") -> str:
    return f"[Container]\nImage=docker.io/library/app:1.2\n{container}\n[Service]\n{service}"


def problems(text: str) -> list[str]:
    p = Problems()
    check_unit(p, text, F)
    return p.lines


@pytest.mark.parametrize("value", ["on-failure", "always"])
def test_restart_that_restarts_a_failed_container_passes(value):
    assert problems(unit_text(service=f"Restart={value}\n")) == []


@pytest.mark.parametrize("value", ["no", "on-success", "on-abort", "on-watchdog", "on-abnormal"])
def test_restart_that_does_not_restart_on_failure_is_refused(value):
    found = problems(unit_text(service=f"Restart={value}\n"))
    assert found == [
        f"{F}:5: Restart: set Restart=on-failure (or always) in [Service] (best practice: "
        "restart a failed container)"
    ]


@pytest.mark.parametrize("value", ["unless-stopped", "on-failures", "Always"])
def test_restart_values_systemd_does_not_know_are_refused_at_their_line(value):
    found = problems(unit_text(service=f"RestartSec=5\nRestart={value}\n"))
    assert len(found) == 1, found
    assert found[0].startswith(f"{F}:6: Restart: Restart={value} is not a value systemd knows (")
    assert "never restarted; set Restart=on-failure (or always)" in found[0]


def test_notify_healthy_needs_a_health_command():
    bad = problems(unit_text("Notify=healthy\n"))
    assert bad == [
        f"{F}:3: Notify: Notify=healthy waits for the health check to pass, and this file sets "
        "no HealthCmd=: the start hangs until TimeoutStartSec= kills it; add HealthCmd= (a "
        "command that exits 0 once the service answers), or use Notify=true"
    ]
    assert problems(unit_text("Notify=healthy\nHealthCmd=none\n")) == bad
    assert problems(unit_text("Notify=healthy\nHealthCmd=/bin/true\n")) == []
    assert problems(unit_text("Notify=true\n")) == []


@pytest.mark.parametrize(
    ("period", "timeout", "bad"),
    [
        ("20m", None, True),  # systemd's default 90 s
        ("91s", None, True),
        ("90s", None, False),
        ("2m", "1min 30s", True),
        ("1m30s", "90", False),
        ("1m31s", "90", True),
        ("20m", "infinity", False),
        ("20m", "0", False),  # 0: no timeout
        ("20m", "30min", False),
        ("1h", "59min 59s", True),
    ],
)
def test_health_start_period_longer_than_the_start_timeout(period, timeout, bad):
    service = "Restart=on-failure\n" + (f"TimeoutStartSec={timeout}\n" if timeout else "")
    text = unit_text(f"Notify=healthy\nHealthCmd=/bin/true\nHealthStartPeriod={period}\n", service)
    found = problems(text)
    if not bad:
        assert found == []
        return
    given = f"TimeoutStartSec={timeout}" if timeout else "systemd's default 90 s"
    assert found == [
        f"{F}:5: HealthStartPeriod: HealthStartPeriod={period} is longer than {given}: with "
        "Notify=healthy systemd stops a start that takes longer, so a slow first start is "
        f"killed; set TimeoutStartSec= in [Service] to more than {period} (or infinity)"
    ]


def test_health_start_period_without_notify_healthy_is_fine():
    # Without Notify=healthy the start ends when the container runs: no race with the period.
    assert problems(unit_text("HealthCmd=/bin/true\nHealthStartPeriod=20m\n")) == []


def test_time_spans_are_read_as_systemd_and_go_read_them():
    assert rules.systemd_timespan("1min 30s") == 90
    assert rules.systemd_timespan("90") == 90
    assert rules.systemd_timespan("2h30min") == 9000
    assert rules.systemd_timespan("1.5h") == 5400
    assert rules.systemd_timespan("500ms") == 0.5
    assert rules.systemd_timespan("infinity") == math.inf
    assert rules.systemd_timespan("ten") is None
    assert rules.go_duration("1m30s") == 90
    assert rules.go_duration("300ms") == 0.3
    assert rules.go_duration("0") == 0
    assert rules.go_duration("90") is None  # Go needs a unit
    assert rules.go_duration("1min") is None


def test_autoupdate_registry_on_a_digest():
    pinned = f"docker.io/library/app@{DIGEST}"
    text = unit_text("AutoUpdate=registry\n").replace("docker.io/library/app:1.2", pinned)
    assert problems(text) == [
        f"{F}:3: AutoUpdate: AutoUpdate=registry with {pinned}, pinned by digest: a digest never "
        "points at a newer image, so podman auto-update fails on it; pin a tag with "
        "AutoUpdate=registry, or keep the digest and remove AutoUpdate="
    ]
    tagged_digest = text.replace(pinned, f"docker.io/library/app:1.2@{DIGEST}")
    assert len(problems(tagged_digest)) == 1
    assert problems(unit_text("AutoUpdate=registry\n")) == []
    assert problems(text.replace("AutoUpdate=registry", "AutoUpdate=local")) == []


def test_model_level_rules_stay_apart():
    u = parse_unit(unit_text(service="Restart=unless-stopped\n"), F)
    assert rules.restart(u) is None  # the unknown value is unknown_restart's finding alone
    assert rules.unknown_restart(u) is not None


def test_quadlet_check_cli_reports_each_rule_at_its_line(tmp_path):
    f = tmp_path / "app.container"
    f.write_text(
        "[Container]\nImage=docker.io/library/app:1.2\nNotify=healthy\n"
        "HealthStartPeriod=5m\n\n[Service]\nRestart=unless-stopped\n"
    )
    proc = subprocess.run(
        [sys.executable, "-m", "homelab", "quadlet", "check", "--no-generator", str(f)],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 1
    lines = proc.stdout.splitlines()
    assert [ln.split(": ")[0:2] for ln in lines] == [
        [f"{f}:3", "Notify"],
        [f"{f}:4", "HealthStartPeriod"],
        [f"{f}:7", "Restart"],
    ], proc.stdout
    f.write_text(
        "[Container]\nImage=docker.io/library/app:1.2\nNotify=healthy\nHealthCmd=/bin/true\n"
        "HealthStartPeriod=5m\n\n[Service]\nRestart=always\nTimeoutStartSec=10min\n"
    )
    proc = subprocess.run(
        [sys.executable, "-m", "homelab", "quadlet", "check", "--no-generator", str(f)],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )
    assert (proc.returncode, proc.stdout) == (0, ""), proc.stdout + proc.stderr
