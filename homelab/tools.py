"""The real external tools: butane, ignition-validate and podman's quadlet generator.

They are installed by scripts/install-tools into .tools/bin; a missing tool is an error that
says how to install it, never a silent skip.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
TOOLS_BIN = REPO / ".tools" / "bin"


class ToolError(Exception):
    pass


def tool(name: str) -> str:
    """Absolute path of a tool: .tools/bin first, then PATH."""
    local = TOOLS_BIN / name
    if local.is_file() and os.access(local, os.X_OK):
        return str(local)
    found = shutil.which(name)
    if found:
        return found
    raise ToolError(
        f"`{name}` not found in {TOOLS_BIN} or on PATH; run `scripts/install-tools` "
        "(or see README: Toolchain)"
    )


def run_butane(butane_text: str) -> str:
    """Butane -> Ignition JSON with `butane --strict` (warnings are errors)."""
    proc = subprocess.run(
        [tool("butane"), "--strict"],
        input=butane_text,
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise ToolError(f"butane --strict rejected the generated Butane:\n{proc.stderr.strip()}")
    return proc.stdout


def validate_ignition(ignition: str) -> None:
    """`ignition-validate`; any output at all (warnings included) fails."""
    with tempfile.NamedTemporaryFile("w", suffix=".ign", delete=True) as fh:
        os.chmod(fh.name, 0o600)
        fh.write(ignition)
        fh.flush()
        proc = subprocess.run(
            [tool("ignition-validate"), fh.name], capture_output=True, text=True, check=False
        )
    out = (proc.stdout + proc.stderr).strip()
    if proc.returncode != 0 or out:
        raise ToolError(f"ignition-validate: {out or 'failed with exit ' + str(proc.returncode)}")


def quadlet_dryrun(units: dict[str, str], shown_dir: str = "") -> str:
    """Run podman's quadlet generator (-dryrun) over `units` (file name -> text).

    Quadlet exits 0 even when it warns or drops a unit, so every stderr line other than
    its 'Loading source unit file' chatter is treated as a failure. The scratch directory
    never appears in a message: it reads as `shown_dir` (the units' real folder), or is cut.
    """
    with tempfile.TemporaryDirectory() as d:
        for fname, text in units.items():
            Path(d, fname).write_text(text)
        env = {**os.environ, "QUADLET_UNIT_DIRS": d}
        proc = subprocess.run(
            [tool("quadlet"), "-dryrun"], capture_output=True, text=True, env=env, check=False
        )
    problems = [
        msg.replace(d + "/", shown_dir.rstrip("/") + "/" if shown_dir else "")
        for ln in proc.stderr.splitlines()
        if (msg := re.sub(r"^quadlet-generator\[\d+\]: ", "", ln).strip())
        and not msg.startswith("Loading source unit file")
    ]
    if proc.returncode != 0 or problems:
        raise ToolError("quadlet generator: " + ("\n".join(problems) or f"exit {proc.returncode}"))
    return proc.stdout
