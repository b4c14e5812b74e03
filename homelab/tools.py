"""The real external tools, an edge of the program: butane, ignition-validate and podman's
quadlet generator, run as subprocesses on what the pure modules made.

They are installed by scripts/install-tools into .tools/bin; a missing tool is an error that
says how to install it, never a silent skip.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from homelab.fileset import FileSet
from homelab.host.access import (
    ConnectingKeys,
    access_problems,
    parse_keys,
    parse_public_key,
    placeholder_problems,
)
from homelab.host.butane import ignition_text, render_butane
from homelab.host.config import StackConfig
from homelab.host.layout import HostLayout
from homelab.host.stack import StackFiles

REPO = Path(__file__).resolve().parent.parent
TOOLS_BIN = REPO / ".tools" / "bin"
_GENERATOR_LOG = re.compile(r"^quadlet-generator\[\d+\]: ")


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


# --- butane and ignition-validate ----------------------------------------------------------


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


def make_ignition(butane_text: str) -> str:
    """Butane -> Ignition, checked: `butane --strict`, then `ignition-validate`; the text as
    every Ignition file is written (`ignition_text`)."""
    ignition = ignition_text(run_butane(butane_text))
    validate_ignition(ignition)
    return ignition


# --- podman's quadlet generator -------------------------------------------------------------


@dataclass(frozen=True)
class DryRun:
    """What podman's generator (`quadlet -dryrun`) made of a folder of unit files."""

    unit_dir: str
    stdout: str
    messages: list[str]  # its stderr but the "Loading source ..." chatter
    returncode: int

    def units(self) -> dict[str, str]:
        """Generated unit name -> its text, in a form two runs can be compared by: no
        SourcePath= and no blank lines, the units' folder written as DIR."""
        out: dict[str, str] = {}
        name = None
        # "\n" only: splitlines() also breaks at U+0085, U+2028, \x1c-\x1e inside a value.
        for line in self.stdout.split("\n"):
            m = re.fullmatch(r"---(.+)---", line)
            if m:
                name = m.group(1)
                out[name] = ""
            elif name and line.strip() and not line.startswith("SourcePath="):
                out[name] += line.replace(self.unit_dir, "DIR") + "\n"
        return out


def quadlet_generate(units: Path | Mapping[str, str], timeout: float = 60) -> DryRun:
    """podman's quadlet generator over a folder, or over `units` (file name -> text) written
    to a scratch folder. Quadlet exits 0 even when it warns or drops a unit: read `messages`.
    """
    if not isinstance(units, Path):
        with tempfile.TemporaryDirectory() as d:
            for fname, text in units.items():
                Path(d, fname).write_text(text)
            return quadlet_generate(Path(d), timeout)
    proc = subprocess.run(
        [tool("quadlet"), "-dryrun"],
        env={**os.environ, "QUADLET_UNIT_DIRS": str(units)},
        capture_output=True,
        text=True,
        check=False,
        timeout=timeout,
    )
    messages = [
        msg
        for ln in proc.stderr.split("\n")
        if (msg := _GENERATOR_LOG.sub("", ln).strip()) and not msg.startswith("Loading source ")
    ]
    return DryRun(str(units), proc.stdout, messages, proc.returncode)


def quadlet_dryrun(units: Mapping[str, str], shown_dir: str = "") -> str:
    """The generator's output for `units` (file name -> text); ToolError on any message.

    The scratch folder never appears in a message: it reads as `shown_dir` (the units' real
    folder), or is cut.
    """
    run = quadlet_generate(units)
    shown = shown_dir.rstrip("/") + "/" if shown_dir else ""
    scratch = run.unit_dir.rstrip("/")
    problems = [
        m.replace(scratch + "/", shown).replace(scratch, shown_dir or ".") for m in run.messages
    ]
    if run.returncode != 0 or problems:
        raise ToolError("quadlet generator: " + ("\n".join(problems) or f"exit {run.returncode}"))
    return run.stdout


# --- a whole layout ------------------------------------------------------------------------------


def check_units(layout: HostLayout) -> str:
    """podman's generator over all the layout's units; returns the systemd units it makes."""
    units = {c.unit_path.rsplit("/", 1)[1]: c.text for c in layout.containers}
    return quadlet_dryrun(units) if units else ""


def check_layout(layout: HostLayout) -> None:
    """Everything the real tools say about a layout, before any resource is registered.

    Secret values do not change the structure being checked, so placeholders stand in for
    them; the real values only ever meet the Butane inside a secret Pulumi input.
    """
    check_units(layout)
    placeholders = {name: "placeholder" for name in layout.fileset.secret_names}
    make_ignition(render_butane(layout.fileset, placeholders))


# --- the key a push connects with ------------------------------------------------------------


def connecting_keys(private_key_path: str | None) -> ConnectingKeys | str:
    """The public key(s) ssh will log in with, or why they cannot be known (a problem).

    A key file: `ssh-keygen -y` derives its public half (an encrypted key cannot be read
    without its passphrase: then the `.pub` beside it). No key file: the ssh-agent's keys
    (`ssh-add -L`), any of which can log in; with no agent there is nothing to check (ssh
    itself then fails to log in and says so)."""
    if private_key_path is None:
        if not os.environ.get("SSH_AUTH_SOCK"):
            return ConnectingKeys((), "no ssh-agent")
        proc = subprocess.run(
            [tool("ssh-add"), "-L"], capture_output=True, text=True, check=False, timeout=30
        )
        keys = parse_keys(proc.stdout) if proc.returncode == 0 else []
        return ConnectingKeys(tuple(keys), "the ssh-agent's keys")
    path = Path(os.path.expanduser(private_key_path))
    if not path.is_file():
        return (
            f"homelab:ssh.private_key_path {private_key_path}: no such file; give the private "
            "key the push logs in with (its public key must be in "
            "homelab:host.ssh_authorized_keys)"
        )
    proc = subprocess.run(
        [tool("ssh-keygen"), "-y", "-P", "", "-f", str(path)],
        capture_output=True,
        text=True,
        check=False,
        stdin=subprocess.DEVNULL,
        timeout=30,
    )
    key = parse_public_key(proc.stdout) if proc.returncode == 0 else None
    source = f"derived from {private_key_path}"
    if key is None:
        pub = Path(str(path) + ".pub")
        key = parse_public_key(pub.read_text(errors="replace")) if pub.is_file() else None
        source = f"{private_key_path}.pub"
    elif (pub := Path(str(path) + ".pub")).is_file():
        # ssh-keygen -y prints no comment for older key formats: the .pub's names the key.
        beside = parse_public_key(pub.read_text(errors="replace"))
        if beside is not None and beside.blob == key.blob and not key.comment:
            key = beside
    if key is None:
        return (
            f"homelab:ssh.private_key_path {private_key_path}: cannot read its public key "
            f"(`ssh-keygen -y -f {private_key_path}`: {proc.stderr.strip() or 'failed'}; no "
            f"readable {private_key_path}.pub); put the public key beside it as "
            f"{private_key_path}.pub"
        )
    return ConnectingKeys((key,), source)


def owner_access_problems(
    cfg: StackConfig, fileset: FileSet, files: StackFiles | None = None, reinstall: bool = False
) -> list[str]:
    """Why a pushing stack would lock its owner out (homelab.host.access), with the key
    the push connects with read here; [] for a stack that does not push. `reinstall`: of a
    host installed from the Ignition, where core is the one user with keys."""
    if cfg.ssh is None:
        return []
    found = connecting_keys(cfg.ssh.private_key_path)
    if isinstance(found, str):
        return [*placeholder_problems(cfg, files), found]
    return access_problems(cfg, fileset, found, files, "core" if reinstall else None, reinstall)
