"""`python -m homelab build` runs each real tool once, and reads each stack file once."""

from __future__ import annotations

import os
import subprocess
from collections import Counter
from pathlib import Path

import pytest

import homelab.host.stack
import homelab.tools
from homelab.cli import build as cli_build
from tests.e2e.pulumi_cli import project_copy

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def counted(monkeypatch, tmp_path):
    """(project copy, Counter of tool runs, Counter of stack file reads) around a build whose
    secrets come from here instead of the pulumi CLI."""
    project = project_copy(tmp_path / "project", images_lock=False)
    runs: Counter[str] = Counter()
    reads: Counter[str] = Counter()
    real_run, real_read = subprocess.run, homelab.host.stack.read_file

    def run(argv, *a, **kw):
        runs[os.path.basename(argv[0])] += 1
        return real_run(argv, *a, **kw)

    def read_file(path, *a, **kw):
        if path.name.startswith("Pulumi.") and path.suffix == ".yaml":
            reads[path.name] += 1
        return real_read(path, *a, **kw)

    monkeypatch.setattr(homelab.tools.subprocess, "run", run)
    monkeypatch.setattr(homelab.host.stack, "read_file", read_file)
    names = ("rustfsAccessKey", "rustfsSecretKey", "tailscaleAuthKey")
    monkeypatch.setattr(cli_build, "stack_secrets", lambda stack, p: {n: "v" for n in names})
    return project, runs, reads


def test_build_runs_each_tool_once_and_reads_each_stack_file_once(counted, tmp_path):
    project, runs, reads = counted
    cli_build.build("vm-test", tmp_path / "out", project)
    assert runs == {"quadlet": 1, "butane": 1, "ignition-validate": 1}
    assert reads == {"Pulumi.vm-test.yaml": 1, "Pulumi.mouse.yaml": 1}
    assert (tmp_path / "out" / "vm-test.ign").stat().st_size > 0


def test_problems_do_not_reread_the_stack_file(counted, tmp_path):
    project, runs, reads = counted
    stack = project / "Pulumi.mouse.yaml"
    text = stack.read_text()
    reads.clear()
    bad = text.replace("memory_max: 2G", "memory_max: 2G\n      ports: ['0:1', 'x:1', '80']")
    stack.write_text(bad)
    with pytest.raises(cli_build.LayoutError) as e:
        cli_build.build("mouse", tmp_path / "out", project)
    assert len(e.value.problems) == 3
    assert all(p.startswith("Pulumi.mouse.yaml:") for p in e.value.problems)
    assert reads == {"Pulumi.mouse.yaml": 1}
    assert runs == {}  # nothing runs before the plan is right
