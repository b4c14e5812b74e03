"""FileSet -> Butane -> Ignition with the real butane: what the machine gets is the plan."""

from __future__ import annotations

import json

from homelab.fileset import FileSet, ManagedDir, ManagedFile
from homelab.host.butane import render_butane
from homelab.tools import run_butane, validate_ignition
from tests import ignition

# A managed config file may itself be YAML with a `mode:` key (e.g. an app's own config).
TRICKY = "mode: 420\n  mode: 755\nmode: 0644\n# mode: 600\n"


def test_file_contents_and_modes_reach_ignition_unchanged():
    fs = FileSet(
        files=(
            ManagedFile(path="/etc/app/config.yaml", content=TRICKY, mode=0o640),
            ManagedFile(path="/etc/app/run.sh", content="#!/bin/sh\n", mode=0o755),
        ),
        dirs=(ManagedDir(path="/var/app", mode=0o750),),
    )
    ign_text = run_butane(render_butane(fs))
    validate_ignition(ign_text)
    ign = json.loads(ign_text)
    got = ignition.files(ign)
    assert got["/etc/app/config.yaml"] == (TRICKY, 0o640)
    assert got["/etc/app/run.sh"] == ("#!/bin/sh\n", 0o755)
    assert [(d["path"], d["mode"]) for d in ign["storage"]["directories"]] == [("/var/app", 0o750)]
