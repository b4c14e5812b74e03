"""The hostile-input table of tests/e2e/test_hostile_input.py (ONE table), run here through
the pure path in seconds: the stack file read as `build` reads it, `load_stack_config` and
`layout_host` (homelab.cli.build.load), and for a stack whose Ignition carries secrets,
`pick_secrets`. The same exact `FILE:LINE: message` the e2e runners expect from `build`,
the program and `pulumi preview`; the e2e runners prove the real program says it too.
Every stack-file and container-file case of the table runs here; the command-line cases
(their own argv) and the one that sets a secret through pulumi run in the e2e file only."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
import yaml

from homelab.cli.build import load
from homelab.host.layout import LayoutError
from homelab.host.stack import ConfigError, StackFiles, pick_secrets
from homelab.inputs import InputError
from tests.e2e.pulumi_cli import project_copy
from tests.e2e.test_hostile_input import CASES, MOUSE, Case, S, _expected

SECRETS = ("rustfsAccessKey", "rustfsSecretKey")


@pytest.fixture(scope="module")
def base(tmp_path_factory) -> Path:
    """The e2e table's project: mouse's stack file as e2e-mouse (its secrets set, as
    `pulumi config set --secret` writes them), vm-test's as e2e-vm-test."""
    project = project_copy(tmp_path_factory.mktemp("hostile") / "project")
    mouse, vm = project / "Pulumi.mouse.yaml", project / "Pulumi.vm-test.yaml"
    doc = yaml.safe_load(mouse.read_text())
    doc["config"]["homelab:ssh"].update(host="127.0.0.1", port=1)
    for key in SECRETS:
        doc["config"][f"homelab:{key}"] = {"secure": f"v1:c2VjcmV0LW9mLXtrZXl9{key}"}
    doc["encryptionsalt"] = "v1:k+/vlYzjSSU=:v1:WTDza0AD0nS+jYAa:Pt1/qHKxJboX/uY7LoHObhl4CLFNKQ=="
    (project / S).write_text(_as_pulumi_writes(doc))
    (project / "Pulumi.e2e-vm-test.yaml").write_text(
        vm.read_text().replace("homelab:base_stack: mouse", f"homelab:base_stack: {MOUSE}")
    )
    mouse.unlink()
    vm.unlink()
    return project


class _PulumiStyle(yaml.SafeDumper):
    """Sequences indented under their key, as pulumi (Go yaml.v3) writes a stack file."""

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        return super().increase_indent(flow, False)


def _as_pulumi_writes(doc: dict) -> str:
    text = yaml.dump(doc, Dumper=_PulumiStyle, sort_keys=False, width=1 << 16)
    # YAML 1.2 (pulumi) needs no quotes on 1000:1000; YAML 1.1 (PyYAML) quotes it.
    return re.sub(r"'(\d+:\d+)'", r"\1", text)


def _pure_cases() -> list[Case]:
    # Command-line cases (own argv or command) and cases that set secrets through pulumi
    # belong to the e2e runner alone.
    return [c for c in CASES if c.args is None and c.cli is None and not c.secret]


def _refusal(project: Path, case: Case) -> str | None:
    files = StackFiles(project)
    try:
        layout = load(case.stack, project, files)
        if any(f.secret and f.in_ignition for f in layout.fileset.files):
            given = {f"homelab:{k}": f"value-of-{k}" for k in layout.config.secret_names()}
            pick_secrets(layout.config, given, files)
    except (ConfigError, LayoutError, InputError) as exc:
        return str(exc)
    return None


@pytest.mark.parametrize("case", _pure_cases(), ids=lambda c: c.id)
def test_refused_by_the_pure_path(base, tmp_path, case):
    project = tmp_path / "project"
    shutil.copytree(base, project, symlinks=True)
    case.edit(project)
    got = _refusal(project, case)
    assert got is not None, "let through by load_stack_config + layout_host"
    if case.program and case.program.startswith("pulumi:"):
        return  # pulumi refuses it before the program: `build`'s words are the e2e's business
    assert got == "\n".join([_expected(project, case), *case.more])
