"""README's first command, `scripts/preview`, as a new user runs it: the real engine previews
vm-test, twice in a row, and no tracked file changes."""

from __future__ import annotations

import os
import stat
import subprocess

import yaml

from tests.e2e.pulumi_cli import REPO, require_tools


def _tracked_state() -> str:
    return (
        subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=REPO,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        + subprocess.run(
            ["git", "diff", "--stat"], cwd=REPO, capture_output=True, text=True, check=True
        ).stdout
    )


def test_preview_runs_the_real_engine_twice_and_changes_no_tracked_file(tmp_path):
    require_tools()
    before = _tracked_state()
    home = tmp_path / "home"
    home.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("PULUMI_")}
    env.update(HOME=str(home), HOMELAB_STATE=str(tmp_path / "homelab"))
    for attempt in (1, 2):
        proc = subprocess.run(
            [str(REPO / "scripts" / "preview")],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=900,
            check=False,
        )
        assert proc.returncode == 0, f"run {attempt}:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
        assert "+ 16 to create" in proc.stdout, proc.stdout[-3000:]
        # Nothing is cached in this new user's home: the preview says what `up` will fetch.
        base_image = yaml.safe_load((REPO / "Pulumi.vm-test.yaml").read_text())["config"][
            "homelab:vm"
        ]["base_image"]
        assert f"`pulumi up` will first download the base image {base_image}" in proc.stderr
    assert _tracked_state() == before

    private = tmp_path / "homelab" / "stacks" / "Pulumi.vm-test.yaml"
    assert stat.S_IMODE(private.stat().st_mode) == 0o600
    doc = yaml.safe_load(private.read_text())
    assert doc["encryptionsalt"].startswith("v1:")
    secure = {k for k, v in doc["config"].items() if isinstance(v, dict) and "secure" in v}
    assert secure == {
        "homelab:rustfsAccessKey",
        "homelab:rustfsSecretKey",
        "homelab:tailscaleAuthKey",
    }
    passphrase = home / ".config" / "homelab" / "passphrase"
    assert stat.S_IMODE(passphrase.stat().st_mode) == 0o600
