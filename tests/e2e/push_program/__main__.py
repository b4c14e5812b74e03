"""A FileSet built by hand (busybox httpd containers) pushed to the simulated host.

Stands in for the real program until a mouse-like stack can target the sim host. Config
(namespace `pushtest`): `ssh` (homelab.push.Connection fields), `spec` (JSON, see below),
`webPassword` (secret), `health_timeout`, `settle`.

spec = {"containers": {NAME: {"image": ..., "port": N, "rev": "1"}}, "notes": "text"}
"""

import json
import sys
from pathlib import Path

# The repository root, for `homelab` and `components` (the provider process gets it from
# PYTHONPATH, set by the test runner; the real program lives in the root and needs neither).
sys.path.insert(0, str(Path(__file__).resolve().parents[3]))

import pulumi

from components.push import HostPush
from tests.e2e.push_program.spec import build_fileset

cfg = pulumi.Config("pushtest")
spec = json.loads(cfg.require("spec"))
fileset = build_fileset(spec)
hp = HostPush(
    "mouse",
    fileset,
    cfg.require_object("ssh"),
    secrets={"webPassword": cfg.require_secret("webPassword")},
    health_timeout=cfg.get_int("health_timeout") or 30,
    settle=cfg.get_int("settle") or 2,
)
pulumi.export("generation", hp.generation)
pulumi.export("applied_at", hp.applied_at)
pulumi.export("hashes", hp.hashes)
pulumi.export("secret_hashes", hp.secret_hashes)
pulumi.export("drift", hp.drift)
