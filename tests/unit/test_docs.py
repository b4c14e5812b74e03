"""The README's option reference is written from the config models and kept current."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from homelab.host.config import ContainerConfig, HostConfig
from homelab.host.reference import BEGIN, END, options_markdown, undocumented, with_reference

REPO = Path(__file__).resolve().parents[2]


def test_the_readme_reference_is_current():
    readme = (REPO / "README.md").read_text()
    assert with_reference(readme) == readme, "README.md is stale: run `uv run homelab docs`"


def test_every_option_is_in_the_reference_with_its_description():
    ref = options_markdown()
    for model in (HostConfig, ContainerConfig):
        for name, field in model.model_fields.items():
            assert f"| `{name}` |" in ref
            assert field.description and field.description.split("`")[0] in ref
    assert '| `auto_rebase.image` | string | `"ghcr.io/ublue-os/ucore:stable"` |' in ref
    assert "| `port` | integer (1-65535) | `22` |" in ref
    assert "| `hostname` | string | **required** |" in ref
    # The VM's options are the vm helper's to describe (homelab/vm/config.py).
    assert all(u.startswith("VmConfig.") for u in undocumented()), undocumented()


def test_docs_check_fails_on_a_stale_readme_and_docs_fixes_it(tmp_path):
    shutil.copy(REPO / "Pulumi.yaml", tmp_path)
    current = (REPO / "README.md").read_text()
    stale = current.replace("uid (and gid) of the `core` user.", "an old description")
    assert stale != current
    (tmp_path / "README.md").write_text(stale)

    def docs(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "homelab", "docs", *args, "--project", str(tmp_path)],
            capture_output=True,
            text=True,
            check=False,
        )

    assert docs("--check").returncode == 1
    assert (tmp_path / "README.md").read_text() == stale
    assert docs().returncode == 0
    assert (tmp_path / "README.md").read_text() == current
    assert docs("--check").returncode == 0


def test_markers_are_required():
    with pytest.raises(ValueError, match="has no") as e:
        with_reference("# no markers\n")
    assert BEGIN in str(e.value) and END in str(e.value)
