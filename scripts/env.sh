# shellcheck shell=bash
# Source me (from any directory): `source scripts/env.sh`. Puts the pinned toolchain and the
# project's venv first on PATH (the Python language host runs the first `python3` on PATH) and
# keeps pulumi offline: no update checks, never a plugin download.
_homelab_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export PATH="$_homelab_root/.tools/bin:$_homelab_root/.venv/bin:$PATH"
export PULUMI_HOME="$_homelab_root/.tools/pulumi-home"
export PULUMI_SKIP_UPDATE_CHECK=true
export PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION=true
export PULUMI_AUTOMATION_API_SKIP_VERSION_CHECK=true
unset _homelab_root
