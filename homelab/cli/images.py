"""`homelab images lock|outdated|update`: images.lock and tags, through the registry's own API
by `skopeo` (Debian/Fedora package; no registry client of our own). An edge: it runs skopeo
and writes files; what the lock is and how a unit is pinned from it is `homelab.host.images`.

- `lock`: every `Image=` of every enabled container of every stack (`Pulumi.*.yaml`) resolved
  to the digest of the manifest the registry serves for it (`skopeo inspect`), written to
  images.lock (all of it, sorted; entries no stack uses any more are dropped).
- `outdated`: newer tags of each container's image, compared as versions (`skopeo list-tags`).
- `update NAME [--to TAG]`: the tag in `containers/NAME.container` replaced (the rest of the
  file byte for byte), then `lock`.

`--mirror REGISTRY=HOST:PORT[/PATH]` asks a mirror in place of REGISTRY, over plain HTTP
(a local pull-through cache, or the tests' registry); the lock still names REGISTRY: the
digest of a manifest is the same wherever it is served from. `--authfile` (default:
$REGISTRY_AUTH_FILE, then skopeo's own) holds credentials for private registries.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from homelab.cli.build import BuildError, load_for_build
from homelab.cli.project import add_project_arg, project_of, write_in_place
from homelab.host.images import (
    LOCK_FILE,
    PLATFORM,
    ImageLock,
    LockEntry,
    LockError,
    lockable,
    newer_tags,
)
from homelab.host.layout import layout_host
from homelab.host.problems import LayoutError
from homelab.host.stack import ConfigError, StackFiles
from homelab.quadlet.values import ImageRef

SKOPEO_TIMEOUT = 120


class RegistryError(Exception):
    pass


@dataclass
class Skopeo:
    mirrors: dict[str, str] = field(default_factory=dict)
    authfile: str | None = None

    def _where(self, ref: str) -> tuple[str, list[str]]:
        """The transport reference skopeo asks for, and the options that go with it."""
        img = ImageRef.parse(ref)
        reg = img.registry or "docker.io"
        opts = ["--authfile", self.authfile] if self.authfile else []
        if reg in self.mirrors:
            rest = ref.split("/", 1)[1] if img.registry else ref
            return f"{self.mirrors[reg]}/{rest}", [*opts, "--tls-verify=false"]
        if reg.rsplit(":", 1)[0] in ("localhost", "127.0.0.1", "[::1]"):
            return ref, [*opts, "--tls-verify=false"]  # a registry on this machine: plain HTTP
        return ref, opts

    def _run(self, argv: list[str], ref: str) -> str:
        try:
            p = subprocess.run(
                ["skopeo", *argv],
                capture_output=True,
                text=True,
                timeout=SKOPEO_TIMEOUT,
                check=False,
            )
        except FileNotFoundError:
            raise RegistryError(
                "skopeo is not installed: apt-get install skopeo (Debian) or dnf install skopeo"
            ) from None
        except subprocess.TimeoutExpired:
            why = f"no answer from its registry in {SKOPEO_TIMEOUT}s"
            raise RegistryError(f"{ref}: {why}") from None
        if p.returncode != 0:
            last = p.stderr.strip().splitlines()[-1:] or [f"exit {p.returncode}"]
            raise RegistryError(f"{ref}: {last[0]}")
        return p.stdout

    def resolve(self, ref: str) -> LockEntry:
        where, opts = self._where(ref)
        os_, arch = PLATFORM.split("/")
        out = self._run(
            [
                "inspect",
                *opts,
                "--override-os",
                os_,
                "--override-arch",
                arch,
                "--format",
                "{{.Digest}} {{.Os}}/{{.Architecture}}",
                f"docker://{where}",
            ],
            ref,
        )
        digest, _, platform = out.strip().partition(" ")
        if platform != PLATFORM:
            raise RegistryError(f"{ref}: the registry has no {PLATFORM} image (got {platform})")
        return LockEntry(ref, digest, platform)

    def tags(self, ref: str) -> list[str]:
        where, opts = self._where(ref)
        repo = where.rsplit(":", 1)[0] if ImageRef.parse(where).tag else where
        out = self._run(["list-tags", *opts, f"docker://{repo}"], ref)
        return list(json.loads(out).get("Tags") or [])


def stacks(project: Path) -> list[str]:
    return sorted(
        p.name[len("Pulumi.") : -len(".yaml")]
        for p in project.glob("Pulumi.*.yaml")
        if p.name != "Pulumi.yaml"
    )


def used_images(project: Path) -> dict[str, set[str]]:
    """image reference -> the containers that use it, over every enabled container of every
    stack, as written (the lock's own input, so never pinned)."""
    files = StackFiles(project)
    out: dict[str, set[str]] = {}
    for stack in stacks(project):
        plan = layout_host(load_for_build(stack, project, files), project, files, pin=False)
        for c in plan.containers:
            if lockable(c.image):
                out.setdefault(c.image, set()).add(c.name)
    return out


def lock(project: Path, reg: Skopeo) -> ImageLock:
    entries = [reg.resolve(ref) for ref in sorted(used_images(project))]
    new = ImageLock({e.ref: e for e in entries})
    path = project / LOCK_FILE
    text = new.render()
    if path.exists():
        write_in_place(path, text)
    else:
        path.write_text(text)
    return new


def outdated(project: Path, reg: Skopeo) -> list[tuple[str, str, list[str]]]:
    """(container, image, newer tags) for each used image that has newer tags."""
    out = []
    for ref, names in sorted(used_images(project).items()):
        img = ImageRef.parse(ref)
        newer = newer_tags(img.tag or "", reg.tags(ref))
        if newer:
            out += [(n, ref, newer) for n in sorted(names)]
    return out


IMAGE_LINE = re.compile(r"^(Image[ \t]*=[ \t]*)(\S+?)([ \t]*)$", re.M)


def retag(text: str, tag: str) -> str:
    """`text` with the tag of its one Image= line replaced, every other byte kept."""
    found = list(IMAGE_LINE.finditer(text))
    if len(found) != 1:
        raise BuildError(f"expected one Image= line, found {len(found)}")
    m = found[0]
    img = ImageRef.parse(m.group(2))
    if img.digest:
        raise BuildError(f"Image={m.group(2)} is pinned by digest in the file; edit it by hand")
    return text[: m.start(2)] + img.with_tag(tag) + text[m.end(2) :]


def update(project: Path, name: str, to: str | None, reg: Skopeo) -> str:
    path = project / "containers" / f"{name}.container"
    if not path.is_file():
        raise BuildError(f"no containers/{name}.container")
    text = path.read_text()
    m = IMAGE_LINE.search(text)
    if m is None:
        raise BuildError(f"containers/{name}.container has no Image= line")
    ref = m.group(2)
    if to is None:
        newer = newer_tags(ImageRef.parse(ref).tag or "", reg.tags(ref))
        if not newer:
            raise BuildError(f"{ref} is the newest version its registry has")
        to = newer[-1]
    new_text = retag(text, to)
    new_ref = ImageRef.parse(ref).with_tag(to)
    reg.resolve(new_ref)  # the tag exists, before the file changes
    write_in_place(path, new_text)
    lock(project, reg)
    return new_ref


def _skopeo(args: argparse.Namespace) -> Skopeo:
    mirrors = {}
    for m in args.mirror or []:
        reg, sep, where = m.partition("=")
        if not sep or not reg or not where:
            raise BuildError(f"--mirror {m!r}: write REGISTRY=HOST:PORT[/PATH]")
        mirrors[reg] = where.rstrip("/")
    return Skopeo(mirrors, args.authfile)


def add_subcommands(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("images", help="images.lock: lock digests, list newer tags, update a tag")
    isub = p.add_subparsers(dest="images_command", required=True)

    def common(q: argparse.ArgumentParser) -> None:
        add_project_arg(q)
        q.add_argument(
            "--mirror",
            action="append",
            metavar="REGISTRY=HOST:PORT[/PATH]",
            help="ask this mirror (plain HTTP) in place of REGISTRY",
        )
        q.add_argument("--authfile", help="registry credentials (containers-auth.json)")

    lk = isub.add_parser("lock", help="resolve every image to its digest into images.lock")
    common(lk)
    lk.set_defaults(func=main_lock)
    od = isub.add_parser("outdated", help="newer tags of each container's image")
    common(od)
    od.set_defaults(func=main_outdated)
    up = isub.add_parser("update", help="set a container's image tag, then lock")
    up.add_argument("name")
    up.add_argument("--to", help="the tag (default: the newest version)")
    common(up)
    up.set_defaults(func=main_update)


def _guard(fn: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        try:
            return int(fn(args))
        except (RegistryError, BuildError, ConfigError, LayoutError, LockError) as exc:
            print(f"homelab images: {exc}", file=sys.stderr)
            return 1

    return run


@_guard
def main_lock(args: argparse.Namespace) -> int:
    new = lock(project_of(args), _skopeo(args))
    for e in sorted(new.entries.values()):
        print(f"{e.ref} {e.digest}")
    print(f"wrote {LOCK_FILE} ({len(new.entries)} images)")
    return 0


@_guard
def main_outdated(args: argparse.Namespace) -> int:
    rows = outdated(project_of(args), _skopeo(args))
    for name, ref, newer in rows:
        print(f"{name}\t{ref}\t{' '.join(newer)}")
    if not rows:
        print("every image is at its newest version")
    return 0


@_guard
def main_update(args: argparse.Namespace) -> int:
    ref = update(project_of(args), args.name, args.to, _skopeo(args))
    print(f"containers/{args.name}.container: Image={ref}; {LOCK_FILE} updated")
    return 0
