"""A mouse-shaped stack pointed at the simulated host, run through the project's own program.

The stack file is built from the real `Pulumi.mouse.yaml` at test time, with only
`homelab:ssh` replaced (127.0.0.1, the sim host's port, its pinned host key, the test key)
and the test key as core's `homelab:host.ssh_authorized_keys` (the placeholder is refused),
so it cannot drift from the real one: same keys, same containers, production checks on.
Its images are busybox stand-ins in the test registry under the exact image names of
`containers/*.container` (the project copy's images.lock resolved against it),
each listening on the TCP ports its container publishes (the sim host's containers use the
host network, see scripts/sim-host) and, like the real ones, refusing to start without the
secrets the stack wires into it.

Reusable by any e2e test: `mouse_host` (session fixture: the sim host, stand-ins in the registry),
`new_mouse_stack(host, workdir)`, `stand_ins()`, `MouseStack.plan()` / `expected_tree()`.
"""

from __future__ import annotations

import base64
import gzip
import json
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from homelab.cli.build import load
from homelab.cli.stackfile import public
from homelab.fileset import file_contents, sha256
from homelab.host.layout import HostLayout
from homelab.host.stack import StackFiles
from homelab.quadlet import PublishedPort, parse_unit
from tests.e2e.pulumi_cli import REPO, Stack, new_stack, project_copy
from tests.e2e.registry import ensure_registry, lock_images
from tests.e2e.simhost import SimHost

STACK = "e2e-mouse"
# Test-only values for mouse's secret config keys (the real ones are the user's).
SECRETS = {"rustfsAccessKey": "e2e-rustfs-access", "rustfsSecretKey": "e2e-rustfs-secret"}
PUSH_TYPE = "pulumi-python:dynamic:Resource"
# A release of netdata that crashes a second after it starts (a test-only tag).
CRASH_IMAGE = "docker.io/netdata/netdata:v2.7.1-e2e-crash"
CRASH_CMD = "sh -c 'echo stand-in starting; sleep 1; echo crashing on purpose; exit 3'"


def mouse_doc() -> dict[str, Any]:
    """The tracked Pulumi.mouse.yaml, without anyone's salt or secrets."""
    return public(yaml.safe_load((REPO / "Pulumi.mouse.yaml").read_text()) or {})


def sim_key_line(host: SimHost) -> str:
    """The sim host's test key, as a public key line (core's only key there, as on FCOS)."""
    return Path(host.key_path + ".pub").read_text().strip()


def e2e_doc(host: SimHost) -> dict[str, Any]:
    """mouse's stack file with `homelab:ssh` pointed at the simulated host and the test key as
    core's key in place of the repository's placeholder (which a pushing stack refuses)."""
    doc = mouse_doc()
    assert "homelab:ssh" in doc["config"], "Pulumi.mouse.yaml no longer sets homelab:ssh"
    doc["config"]["homelab:host"]["ssh_authorized_keys"] = [sim_key_line(host)]
    doc["config"]["homelab:ssh"] = {
        "host": "127.0.0.1",
        "port": host.port,
        "user": "core",
        "host_key": host.host_key,
        "private_key_path": host.key_path,
    }
    return doc


@dataclass(frozen=True)
class StandIn:
    container: str
    image: str
    tcp_ports: tuple[int, ...]
    env: tuple[str, ...]  # variables the stack delivers as secrets; missing -> exit 1

    def command(self) -> str:
        checks = "".join(
            f'[ -n "${{{v}:-}}" ] || {{ echo "stand-in: {v} is not set"; exit 1; }}; '
            for v in self.env
        )
        serve = [f"httpd -p 127.0.0.1:{p}; " for p in self.tcp_ports[:-1]]
        last = (
            f"exec httpd -f -p 127.0.0.1:{self.tcp_ports[-1]}"
            if self.tcp_ports
            else "while :; do sleep 3600; done"
        )
        return f"sh -c '{checks}{''.join(serve)}{last}'"


def stand_ins() -> list[StandIn]:
    """One stand-in per containers/*.container, from the file and mouse's stack config."""
    containers = mouse_doc()["config"].get("homelab:containers") or {}
    out = []
    for path in sorted((REPO / "containers").glob("*.container")):
        unit = parse_unit(path.read_text(), f"containers/{path.name}")
        name = path.stem
        image = unit.get("Container", "Image")[-1]
        ports = []
        for spec in unit.get("Container", "PublishPort"):
            pp = PublishedPort.parse(spec)
            if pp.protocol == "tcp" and pp.host_port and pp.host_port.isdigit():
                ports.append(int(pp.host_port))
        env = tuple(sorted((containers.get(name) or {}).get("secrets") or {}))
        out.append(StandIn(name, image, tuple(dict.fromkeys(ports)), env))
    return out


def build_stand_ins() -> None:
    """Every stand-in in the test registry, under its image's real name (the sim host pulls
    them through its registries.conf mirror)."""
    ensure_registry()


@dataclass
class MouseStack:
    """The e2e-mouse stack of one project copy, and what the host should hold for it."""

    stack: Stack
    host: SimHost
    secrets: dict[str, str] = field(default_factory=dict)

    @property
    def project(self) -> Path:
        return self.stack.project

    def plan(self) -> HostLayout:
        """The host plan of the stack file as it is now (what `pulumi up` must deliver)."""
        return load(STACK, self.project, StackFiles(self.project))

    def managed_paths(self, *plans: HostLayout) -> list[str]:
        paths: set[str] = set()
        for p in plans or (self.plan(),):
            paths |= {f.path for f in p.fileset.files}
        return sorted(paths)

    def expected_tree(self, paths: list[str], plan: HostLayout | None = None) -> dict[str, Any]:
        """path -> sha256 of what the plan puts there (None: the plan has no such file)."""
        contents = file_contents((plan or self.plan()).fileset, self.secrets)
        return {p: sha256(contents[p]) if p in contents else None for p in paths}

    def set_secret(self, name: str, value: str) -> None:
        """`pulumi config set --secret homelab:NAME` (value on stdin), remembered for trees."""
        self.stack.set_secret(f"homelab:{name}", value)
        self.secrets[name] = value

    def units(self) -> list[str]:
        return sorted(self.plan().fileset.units)

    def lock_images(self) -> str:
        """`homelab images lock` after a change of image or tag in the stack."""
        return lock_images(self.project)


def new_mouse_stack(
    host: SimHost, workdir: Path, secrets: dict[str, str] | None = None
) -> MouseStack:
    """A project copy with Pulumi.e2e-mouse.yaml, a file backend, and the secrets set."""
    project = project_copy(workdir / "project")
    doc = e2e_doc(host)
    (project / f"Pulumi.{STACK}.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))
    st = new_stack(project, workdir / "state", STACK)
    ms = MouseStack(st, host, {})
    for k, v in (SECRETS if secrets is None else secrets).items():
        ms.set_secret(k, v)
    return ms


@pytest.fixture(scope="session")
def mouse_host(simhost: SimHost) -> Iterator[SimHost]:
    """The session's sim host, with stand-ins for every image in containers/."""
    build_stand_ins()
    yield simhost


@dataclass(frozen=True)
class IgnitionFile:
    path: str
    data: bytes
    mode: int
    uid: int
    gid: int


def decode_data_url(url: str, compression: str | None = None) -> bytes:
    """The bytes of an Ignition `data:` URL (percent-encoded or base64, maybe gzip)."""
    assert url.startswith("data:"), f"not a data URL: {url[:40]}"
    meta, _, payload = url[5:].partition(",")
    raw = (
        base64.b64decode(payload)
        if meta.endswith(";base64")
        else urllib.parse.unquote_to_bytes(payload)
    )
    return gzip.decompress(raw) if compression == "gzip" else raw


def ignition_files(ignition: str) -> dict[str, IgnitionFile]:
    """Every file an Ignition config writes, decoded."""
    doc = json.loads(ignition)
    out = {}
    for f in doc.get("storage", {}).get("files", []):
        contents = f.get("contents") or {}
        out[f["path"]] = IgnitionFile(
            path=f["path"],
            data=decode_data_url(contents.get("source", "data:,"), contents.get("compression")),
            mode=int(f.get("mode", 0o644)),
            uid=int((f.get("user") or {}).get("id", 0)),
            gid=int((f.get("group") or {}).get("id", 0)),
        )
    return out
