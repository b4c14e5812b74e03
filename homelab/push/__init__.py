"""SSH push of a FileSet to a running host: manifest, live state and drift, transport, apply.

No Pulumi here: `components.push` wraps these functions in a dynamic provider. The host side
is POSIX sh (remote/*.sh) because Fedora CoreOS has no python. See docs/PUSH.md.

The flow, one module each:
- `desired`: what the host must have (the FileSet's manifest, `homelab.manifest`, with its
  units and Quadlet dir), exact hashes, generation id, the tar;
- `live`: one SSH command reads what the host has (remote/read.sh); `compute_drift` compares
  it with what was last pushed (drift), `differences` with the stack (what `up` changes);
- `apply`: one SSH command sends the generation and applies it (remote/apply.sh);
- `ssh`: the pinned-key transport both use, sharing one connection per `pulumi up`;
- `transport`: the effects (every SSH command, the socket dir); the modules above are pure.

The dynamic provider's process imports this package on every preview, so it stays light (no
pydantic): it reads manifests through the light `homelab.manifest`, and FileSet helpers
import `homelab.fileset` when called.
"""

from __future__ import annotations

from homelab.push import transport as transport_mod
from homelab.push.apply import (
    APPLY_COMMAND,
    ApplyResult,
    Armed,
    apply_outcome,
    parse_apply_output,
)
from homelab.push.desired import (
    PULL_TIMEOUT,
    Desired,
    build_tar,
    desired_hashes,
    generation_id,
    manifest_tsv,
    plain_contents,
    secret_contents,
)
from homelab.push.errors import PushError
from homelab.push.live import (
    READ_COMMAND,
    LiveFile,
    LiveState,
    Pushed,
    compute_drift,
    differences,
    drift_summary,
    parse_live,
    read_script,
)
from homelab.push.places import BASE, CURRENT, REMOTE_DIR
from homelab.push.ssh import (
    SHARE_SECONDS,
    Connection,
    control_path,
    known_hosts_line,
    private_dir,
    ssh_argv,
)
from homelab.push.transport import (
    apply,
    close_shared,
    confirm_generation,
    mux_dir,
    read_live,
    run_ssh,
)

__all__ = [
    "APPLY_COMMAND",
    "BASE",
    "CURRENT",
    "PULL_TIMEOUT",
    "READ_COMMAND",
    "REMOTE_DIR",
    "SHARE_SECONDS",
    "ApplyResult",
    "Armed",
    "Connection",
    "Desired",
    "LiveFile",
    "LiveState",
    "PushError",
    "Pushed",
    "apply",
    "apply_outcome",
    "build_tar",
    "close_shared",
    "compute_drift",
    "confirm_generation",
    "control_path",
    "desired_hashes",
    "differences",
    "drift_summary",
    "generation_id",
    "known_hosts_line",
    "manifest_tsv",
    "mux_dir",
    "parse_apply_output",
    "parse_live",
    "plain_contents",
    "private_dir",
    "read_live",
    "read_script",
    "run_ssh",
    "secret_contents",
    "ssh_argv",
    "transport_mod",
]
