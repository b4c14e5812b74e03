"""The layout's rule (docs/ARCHITECTURE.md): the pure modules import no pulumi and run no
subprocess, nor import the edges that do; and homelab's modules import each other without
cycles, so the data flow reads one way."""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PURE = [
    "homelab/quadlet",
    "homelab/host",
    "homelab/fileset.py",
    "homelab/manifest.py",
    "homelab/pathrules.py",
    "homelab/vm/config.py",
    "homelab/vm/libvirt_facts.py",
    "homelab/vm/image_cache.py",
    "homelab/vm/__init__.py",
    "homelab/program.py",
    "homelab/inputs.py",
    "homelab/stackyaml.py",
    # The push's pure parts: what to send, how to read what comes back, the transport's argv.
    "homelab/push/desired.py",
    "homelab/push/live.py",
    "homelab/push/plan.py",
    "homelab/push/apply.py",
    "homelab/push/ssh.py",
    "homelab/push/sshfail.py",
    "homelab/push/kinds.py",
    "homelab/push/places.py",
    "homelab/push/errors.py",
]
# What only the edges may use: the Pulumi SDK and providers, processes, and the edge modules.
EFFECTS = ("pulumi", "pulumi_command", "pulumi_libvirt", "subprocess", "components")
EDGES = (
    "homelab.tools",
    "homelab.cli",
    "homelab.push.transport",
    "homelab.push.day2",
    "homelab.vm.image",
    "homelab.vm.host",
    "homelab.vm.prepare",
)
# Packages whose __init__ re-exports an edge: importing the package itself is an effect.
EDGE_PACKAGES = ("homelab.push",)


def _modules(path: str) -> list[Path]:
    p = REPO / path
    return sorted(p.rglob("*.py")) if p.is_dir() else [p]


def _imports(py: Path) -> set[str]:
    out: set[str] = set()
    for node in ast.walk(ast.parse(py.read_text())):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            out.add(node.module)
            out.update(f"{node.module}.{a.name}" for a in node.names)
    return out


def _name(py: Path) -> str:
    parts = py.relative_to(REPO).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def test_pure_modules_have_no_effects():
    bad = {}
    for path in PURE:
        for py in _modules(path):
            found = sorted(
                m
                for m in _imports(py)
                if m.split(".")[0] in EFFECTS
                or m in EDGE_PACKAGES
                or any(m == e or m.startswith(e + ".") for e in EDGES)
            )
            if found:
                bad[str(py.relative_to(REPO))] = found
    assert bad == {}


def test_homelab_imports_have_no_cycles():
    mods = {_name(py): py for py in _modules("homelab")}
    graph = {
        name: {m for m in _imports(py) if m in mods and m != name and not name.startswith(m + ".")}
        for name, py in mods.items()
    }
    state: dict[str, int] = {}

    def visit(n: str, path: list[str]) -> None:
        state[n] = 1
        for m in sorted(graph[n]):
            assert state.get(m) != 1, "import cycle: " + " -> ".join([*path, n, m])
            if m not in state:
                visit(m, [*path, n])
        state[n] = 2

    for n in sorted(graph):
        if n not in state:
            visit(n, [])
