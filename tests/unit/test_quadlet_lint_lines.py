"""podman's Quadlet rules (homelab.quadlet.lint), one small unit per case: the unit text and
the exact problems it gives, each rendered in full as `LINE: SEVERITY [KEY] MESSAGE` (what
`homelab quadlet check` prints is `FILE:LINE: MESSAGE`; the key and severity decide how
`build` reports it). Each rule is shown both ways: a unit that keeps it gives no problem, one
that breaks it gives exactly this line. The code paths podman's own corpus does not reach
(tests/unit/test_quadlet_corpus_lint.py runs that one): user-namespace mappings, mounts,
working directories, unit names, volumes, builds.

Every unit starts with a comment, so its section header is on line 2 and a problem placed at
the header, at its key or at the file (line 1) can be told apart."""

from __future__ import annotations

from pathlib import Path

import pytest

from homelab.quadlet import check, newer_than_5_4, parse_unit
from homelab.quadlet.lint import lint_unit
from homelab.quadlet.model import Problem

IMG = "Image=docker.io/library/alpine:3"  # a fully qualified image: no short-name warning


def unit(group: str, *body: str, service: tuple[str, ...] = (), unit_: tuple[str, ...] = ()) -> str:
    """`# case`, then [Unit] (if any), [GROUP] with `body`, then [Service] (if any)."""
    lines = ["# case"]
    if unit_:
        lines += ["[Unit]", *unit_]
    lines += [f"[{group}]", *body]
    if service:
        lines += ["[Service]", *service]
    return "\n".join(lines) + "\n"


def rendered(problems: list[Problem], filename: str) -> list[str]:
    assert {p.file for p in problems} <= {filename}
    return [f"{p.line}: {p.severity} [{p.key}] {p.message}" for p in problems]


def lint(filename: str, text: str, siblings: set[str] | None = None) -> list[str]:
    return rendered(check(text, filename, siblings), filename)


C, K, P, B, V, N = "t.container", "t.kube", "t.pod", "t.build", "t.volume", "t.network"
DEPRECATED = (
    "deprecated Remap keys are set along with explicit mapping keys ({}): "
    "use only UserNS=/UIDMap=/GIDMap="
)
UNIT_NAME = (
    "{} does not make a valid systemd unit name (letters, digits, ':', '-', '_', '.', '\\', "
    "one '@'; up to 255 characters): podman's generator would write that name as a file "
    "path; rename it"
)
LONG = "a" * 241 + ".volume"
ALL_EXPLICIT = "UserNS, UIDMap, GIDMap, SubUIDMap, SubGIDMap"
SERVICE_KEY = (
    "using key {0} in the Service group is not supported (Quadlet sets the user itself; use "
    "User= in the Quadlet group)"
)

# (id, file name, text, siblings (None: not known), the exact problems)
CASES: list[tuple[str, str, str, set[str] | None, list[str]]] = [
    # --- user namespace mappings (podman's handleUserMappings / handleUserRemap) ---------
    ("uidmap-alone", C, unit("Container", IMG, "UIDMap=0:10000:10"), None, []),
    (
        "userns-and-remapuid",
        C,
        unit("Container", IMG, "UserNS=auto", "RemapUid=0:1:1"),
        None,
        [f"5: error [RemapUid] {DEPRECATED.format('UserNS')}"],
    ),
    (
        "all-explicit-keys-and-remapgid-before-remapusers",
        C,
        unit(
            "Container",
            IMG,
            "RemapUsers=auto",
            "UserNS=auto",
            "UIDMap=0:1:1",
            "GIDMap=0:1:1",
            "SubUIDMap=u",
            "SubGIDMap=g",
            "RemapGid=0:1:1",
        ),
        None,
        # At the first Remap key in podman's order (RemapUid, RemapGid, RemapUsers) set.
        [f"10: error [RemapGid] {DEPRECATED.format(ALL_EXPLICIT)}"],
    ),
    (
        "uidmap-and-remapusers",
        C,
        unit("Container", IMG, "UIDMap=0:1:1", "RemapUsers=auto"),
        None,
        [f"5: error [RemapUsers] {DEPRECATED.format('UIDMap')}"],
    ),
    (
        "gidmap-and-remapusers",
        C,
        unit("Container", IMG, "GIDMap=0:1:1", "RemapUsers=auto"),
        None,
        [f"5: error [RemapUsers] {DEPRECATED.format('GIDMap')}"],
    ),
    (
        "subuidmap-and-remapuid",
        P,
        unit("Pod", "SubUIDMap=u", "RemapUid=0:1:1"),
        None,
        [f"4: error [RemapUid] {DEPRECATED.format('SubUIDMap')}"],
    ),
    (
        "subgidmap-and-remapusers",
        P,
        unit("Pod", "PodName=p", "SubGIDMap=g", "RemapUsers=auto"),
        None,
        [f"5: error [RemapUsers] {DEPRECATED.format('SubGIDMap')}"],
    ),
    (
        "userns-and-remapusers-in-kube",
        K,
        unit("Kube", "Yaml=/k.yaml", "UserNS=auto", "RemapUsers=auto"),
        None,
        [f"5: error [RemapUsers] {DEPRECATED.format('UserNS')}"],
    ),
    (
        # An empty UIDMap= resets the list: no explicit mapping is left.
        "uidmap-reset-and-remapusers",
        C,
        unit("Container", IMG, "UIDMap=0:1:1", "UIDMap=", "RemapUsers=auto"),
        None,
        [],
    ),
    (
        "remapuid-without-remapusers",
        C,
        unit("Container", IMG, "RemapGid=0:1:1", "RemapUid=0:1:1"),
        None,
        ["5: error [RemapUid] UidMap set without RemapUsers"],
    ),
    (
        "remapgid-without-remapusers",
        C,
        unit("Container", IMG, "RemapGid=0:1:1"),
        None,
        ["4: error [RemapGid] GidMap set without RemapUsers"],
    ),
    (
        # The last RemapUsers= is in effect: an empty one means none.
        "remapusers-emptied",
        C,
        unit("Container", IMG, "RemapUsers=auto", "RemapUid=0:1:1", "RemapUsers="),
        None,
        ["5: error [RemapUid] UidMap set without RemapUsers"],
    ),
    (
        "remapusers-manual-container",
        C,
        unit("Container", IMG, "RemapUsers=manual", "RemapUid=0:1:1", "RemapGid=0:1:1"),
        None,
        [],
    ),
    ("remapusers-manual-pod", P, unit("Pod", "RemapUsers=manual", "RemapUid=0:1:1"), None, []),
    (
        "remapusers-manual-kube",
        K,
        unit("Kube", "Yaml=/k.yaml", "RemapUsers=manual"),
        None,
        ["4: error [RemapUsers] RemapUsers=manual is not supported"],
    ),
    (
        "remapusers-keep-id-single",
        C,
        unit("Container", IMG, "RemapUsers=keep-id", "RemapUid=1000", "RemapGid=1000"),
        None,
        [],
    ),
    (
        # podman's words (5.4.2's generator): UID or GID, the UIDs checked first.
        "remapusers-keep-id-two-uids",
        C,
        unit("Container", IMG, "RemapUid=1 2", "RemapGid=3 4", "RemapUsers=keep-id"),
        None,
        ["6: error [RemapUsers] RemapUsers=keep-id supports only a single value for UID mapping"],
    ),
    (
        "remapusers-keep-id-two-gids",
        C,
        unit("Container", IMG, "RemapUsers=keep-id", "RemapGid=1", "RemapGid=2"),
        None,
        ["4: error [RemapUsers] RemapUsers=keep-id supports only a single value for GID mapping"],
    ),
    (
        "remapusers-auto-with-maps",
        C,
        unit("Container", IMG, "RemapUsers=auto", "RemapUid=1 2", "RemapGid=3 4"),
        None,
        [],
    ),
    (
        "remapusers-unknown",
        C,
        unit("Container", IMG, "RemapUsers=auto", "RemapUsers=nobody"),
        None,
        ["5: error [RemapUsers] unsupported RemapUsers option 'nobody'"],
    ),
    (
        "remapusers-unknown-then-auto",
        C,
        unit("Container", IMG, "RemapUsers=nobody", "RemapUsers=auto"),
        None,
        [],
    ),
    # --- [Service] Type= and KillMode= ------------------------------------------------
    (
        "service-type-and-killmode-allowed",
        C,
        unit("Container", IMG, service=("Type=notify", "Type=oneshot", "KillMode=mixed")),
        None,
        [],
    ),
    (
        "service-killmode-control-group",
        K,
        unit("Kube", "Yaml=/k.yaml", service=("KillMode=control-group",)),
        None,
        [],
    ),
    (
        "service-killmode-process",
        C,
        unit("Container", IMG, service=("Type=notify", "KillMode=process", "KillMode=none")),
        None,
        ["7: error [KillMode] invalid KillMode 'none'"],
    ),
    (
        "service-type-simple",
        K,
        unit("Kube", "Yaml=/k.yaml", service=("KillMode=mixed", "Type=simple")),
        None,
        ["6: error [Type] invalid service Type 'simple'"],
    ),
    # --- [Container]: image or rootfs ----------------------------------------------------
    (
        "no-image-no-rootfs",
        C,
        unit("Container", "Exec=/bin/true"),
        None,
        ["2: error [Image] no Image or Rootfs key specified: podman cannot create this container"],
    ),
    ("rootfs-alone", C, unit("Container", "Rootfs=/srv/root"), None, []),
    (
        "image-and-rootfs",
        C,
        unit("Container", IMG, "Rootfs=/srv/root"),
        None,
        ["4: error [Rootfs] the Image And Rootfs keys conflict can not be specified together"],
    ),
    (
        "quadlet-image-missing",
        C,
        unit("Container", "Exec=/bin/true", "Image=app.image"),
        {"t.container"},
        ["4: error [Image] requested Quadlet image app.image was not found"],
    ),
    (
        "quadlet-build-missing",
        C,
        unit("Container", "Exec=/bin/true", "Image=app.build"),
        {"t.container", "app.image"},
        ["4: error [Image] requested Quadlet image app.build was not found"],
    ),
    (
        "quadlet-image-present",
        C,
        unit("Container", "Image=app.image"),
        {"t.container", "app.image"},
        [],
    ),
    ("quadlet-image-siblings-unknown", C, unit("Container", "Image=app.image"), None, []),
    (
        "short-image-name",
        C,
        unit("Container", "Exec=/bin/true", "Image=alpine"),
        None,
        [
            '4: warning [Image] specifies the image "alpine" which not a fully qualified image '
            "name (short names are resolved by a registry search; name the registry, e.g. "
            "docker.io/alpine)"
        ],
    ),
    (
        "reloadcmd-and-reloadsignal",
        C,
        unit("Container", IMG, "ReloadCmd=/bin/kill -HUP 1", "ReloadSignal=SIGHUP"),
        None,
        ["4: error [ReloadCmd] ReloadCmd and ReloadSignal are mutually exclusive but both are set"],
    ),
    ("reloadsignal-alone", C, unit("Container", IMG, "ReloadSignal=SIGHUP"), None, []),
    (
        "reloadcmd-emptied-and-reloadsignal",
        C,
        unit("Container", IMG, "ReloadCmd=", "ReloadSignal=SIGHUP"),
        None,
        [],
    ),
    (
        "group-without-user",
        C,
        unit("Container", IMG, "Exec=/bin/true", "Group=1000"),
        None,
        ["5: error [Group] invalid Group set without User"],
    ),
    ("group-with-user", C, unit("Container", IMG, "User=1000", "Group=1000"), None, []),
    (
        "exposehostport",
        C,
        unit(
            "Container",
            IMG,
            "ExposeHostPort=8080",
            "ExposeHostPort=9000-9010/udp",
            "ExposeHostPort= 53/tcp ",
            "ExposeHostPort=http",
        ),
        None,
        ["7: error [ExposeHostPort] invalid port format 'http'"],
    ),
    (
        "pod-not-quadlet",
        C,
        unit("Container", IMG, "Pod=mypod"),
        {"t.container"},
        ["4: error [Pod] pod mypod is not Quadlet based"],
    ),
    (
        "pod-missing",
        C,
        unit("Container", IMG, "Pod=app.pod", "Exec=/bin/true"),
        {"t.container"},
        ["4: error [Pod] quadlet pod unit app.pod does not exist"],
    ),
    (
        "pod-present",
        C,
        unit("Container", IMG, "Pod=app.pod"),
        {"t.container", "app.pod"},
        [],
    ),
    # --- Network= (container, kube, pod, build) -----------------------------------------
    (
        "network-quadlet-missing",
        C,
        unit("Container", IMG, "Network=host", "Network=app.network"),
        {"t.container"},
        ["5: error [Network] requested Quadlet unit app.network was not found"],
    ),
    (
        "network-container-with-options",
        C,
        unit("Container", IMG, "Network=db.container:alias=x"),
        {"t.container", "db.container"},
        [
            "4: error [Network] extra options are not supported when joining another "
            "container's network"
        ],
    ),
    (
        "network-container-missing",
        K,
        unit("Kube", "Yaml=/k.yaml", "Network=db.container"),
        {"t.kube"},
        ["4: error [Network] requested Quadlet unit db.container was not found"],
    ),
    (
        "network-with-options-present",
        P,
        unit("Pod", "Network=app.network:ip=10.0.0.2"),
        {"t.pod", "app.network"},
        [],
    ),
    (
        "network-missing-in-pod",
        P,
        unit("Pod", "PodName=p", "Network=app.network"),
        {"t.pod"},
        ["4: error [Network] requested Quadlet unit app.network was not found"],
    ),
    # --- Volume= sources ------------------------------------------------------------------
    (
        "volume-quadlet-missing",
        C,
        unit("Container", IMG, "Volume=/srv/a:/a", "Volume=data.volume:/data:Z"),
        {"t.container"},
        ["5: error [Volume] requested Quadlet source data.volume was not found"],
    ),
    (
        # Volume= does not take a Quadlet image (Mount=type=image does).
        "volume-image-not-a-source",
        C,
        unit("Container", IMG, "Volume=app.image:/data"),
        {"t.container"},
        [],
    ),
    (
        "volume-missing-in-pod",
        P,
        unit("Pod", "PodName=p", "Volume=data.volume:/data"),
        {"t.pod"},
        ["4: error [Volume] requested Quadlet source data.volume was not found"],
    ),
    # --- Mount= ---------------------------------------------------------------------------
    (
        "mount-without-type",
        C,
        unit("Container", IMG, "Mount=source=/a,destination=/a"),
        None,
        ["4: error [Mount] Mount=source=/a,destination=/a: no type= given"],
    ),
    (
        "mount-tmpfs-needs-no-source",
        C,
        unit("Container", IMG, "Mount=type=tmpfs,destination=/t"),
        None,
        [],
    ),
    (
        "mount-anonymous-volume",
        C,
        unit("Container", IMG, "Mount=type=volume,destination=/v"),
        None,
        [],
    ),
    (
        "mount-bind-without-source",
        C,
        unit("Container", IMG, "Exec=/bin/true", "Mount=type=bind,destination=/b"),
        None,
        ["5: error [Mount] source parameter is required for mount type bind"],
    ),
    (
        "mount-glob-without-source",
        C,
        unit("Container", IMG, "Mount=type=glob,destination=/g"),
        None,
        ["4: error [Mount] source parameter is required for mount type glob"],
    ),
    (
        "mount-bare-source",
        C,
        unit("Container", IMG, "Mount=type=bind,source,destination=/b"),
        None,
        ["4: error [Mount] source parameter does not include a value"],
    ),
    (
        "mount-bare-src",
        C,
        unit("Container", IMG, "Mount=type=volume,src,destination=/b"),
        None,
        ["4: error [Mount] source parameter does not include a value"],
    ),
    (
        "mount-sources",
        C,
        unit(
            "Container",
            IMG,
            "Mount=type=bind,src=/srv/a,destination=/a",
            "Mount=type=bind,source=/srv/a=b,destination=/b",
            "Mount=type=volume,source=data.volume,destination=/v",
            "Mount=type=image,source=app.image,destination=/i",
        ),
        {"t.container", "data.volume", "app.image"},
        [],
    ),
    (
        # The value is split as a command line first: quotes go, the space stays.
        "mount-quoted",
        C,
        unit("Container", IMG, 'Mount="type=bind,source=/srv/x y,destination=/b"'),
        None,
        [],
    ),
    (
        "mount-quadlet-sources-missing",
        C,
        unit(
            "Container",
            IMG,
            "Mount=type=volume,source=data.volume,destination=/v",
            "Mount=type=image,src=app.image,destination=/i",
        ),
        {"t.container"},
        [
            "4: error [Mount] requested Quadlet source data.volume was not found",
            "5: error [Mount] requested Quadlet source app.image was not found",
        ],
    ),
    # --- .kube: SetWorkingDirectory= ---------------------------------------------------------
    (
        "kube-working-dir-yaml",
        K,
        unit("Kube", "Yaml=/k.yaml", "SetWorkingDirectory=yaml"),
        None,
        [],
    ),
    (
        "kube-working-dir-yaml-two-yamls",
        K,
        unit("Kube", "Yaml=/a.yaml", "SetWorkingDirectory=yaml", "Yaml=/b.yaml"),
        None,
        [
            "4: error [SetWorkingDirectory] SetWorkingDirectory=yaml is only supported when a "
            "single Yaml key is provided"
        ],
    ),
    (
        "kube-working-dir-file",
        K,
        unit("Kube", "Yaml=/k.yaml", "SetWorkingDirectory=File"),
        None,
        [
            "4: error [SetWorkingDirectory] SetWorkingDirectory=File is only supported in "
            ".build files"
        ],
    ),
    (
        "kube-working-dir-unit",
        K,
        unit("Kube", "Yaml=/k.yaml", "SetWorkingDirectory=unit"),
        None,
        [],
    ),
    (
        "kube-working-dir-path",
        K,
        unit("Kube", "Yaml=/k.yaml", "SetWorkingDirectory=/srv"),
        None,
        ["4: error [SetWorkingDirectory] unsupported value for WorkingDirectory: /srv"],
    ),
    (
        "kube-without-yaml",
        K,
        unit("Kube", "SetWorkingDirectory=unit"),
        None,
        ["2: error [Yaml] no Yaml key specified"],
    ),
    # --- .build ---------------------------------------------------------------------------
    (
        "build-without-imagetag",
        B,
        unit("Build", "File=Containerfile", "Network=app.network"),
        {"t.build"},
        ["2: error [ImageTag] no ImageTag key specified"],
    ),
    (
        "build-nothing-to-build",
        B,
        unit("Build", "ImageTag=localhost/app"),
        None,
        ["2: error [SetWorkingDirectory] neither SetWorkingDirectory, nor File key specified"],
    ),
    (
        "build-relative-file",
        B,
        unit("Build", "ImageTag=localhost/app", "File=Containerfile"),
        None,
        ["4: error [File] relative path in File key requires SetWorkingDirectory key to be set"],
    ),
    (
        "build-relative-file-escaped-percent",
        B,
        unit("Build", "ImageTag=localhost/app", "File=%%Containerfile"),
        None,
        ["4: error [File] relative path in File key requires SetWorkingDirectory key to be set"],
    ),
    (
        "build-relative-file-service-working-directory",
        B,
        unit(
            "Build",
            "ImageTag=localhost/app",
            "File=Containerfile",
            service=("WorkingDirectory=/srv/app",),
        ),
        None,
        [],
    ),
    (
        "build-file-absolute-specifier-or-url",
        B,
        unit(
            "Build",
            "ImageTag=localhost/app",
            "File=/srv/Containerfile",
        ),
        None,
        [],
    ),
    ("build-file-specifier", B, unit("Build", "ImageTag=a/b", "File=%h/Containerfile"), None, []),
    (
        "build-file-url",
        B,
        unit("Build", "ImageTag=a/b", "File=https://example.org/Containerfile"),
        None,
        [],
    ),
    # podman's URL test is `^((https?)|(git)://)|(github\.com/).+$`: any "http" prefix, or
    # "github.com/" anywhere, reads as a URL (as 5.4.2's generator does); "git" alone does not.
    ("build-file-http-prefix", B, unit("Build", "ImageTag=a/b", "File=httpfile"), None, []),
    ("build-file-github", B, unit("Build", "ImageTag=a/b", "File=x/github.com/y"), None, []),
    (
        "build-file-git-prefix",
        B,
        unit("Build", "ImageTag=a/b", "File=gitfile"),
        None,
        ["4: error [File] relative path in File key requires SetWorkingDirectory key to be set"],
    ),
    (
        "build-working-dir-file",
        B,
        unit("Build", "ImageTag=a/b", "File=Containerfile", "SetWorkingDirectory=file"),
        None,
        [],
    ),
    (
        "build-working-dir-file-without-file",
        B,
        unit("Build", "ImageTag=a/b", "SetWorkingDirectory=file"),
        None,
        ["4: error [File] no File key specified"],
    ),
    (
        "build-working-dir-yaml",
        B,
        unit("Build", "ImageTag=a/b", "SetWorkingDirectory=yaml"),
        None,
        [
            "4: error [SetWorkingDirectory] SetWorkingDirectory=yaml is only supported in "
            ".kube files"
        ],
    ),
    (
        "build-working-dir-unit",
        B,
        unit("Build", "ImageTag=a/b", "File=Containerfile", "SetWorkingDirectory=unit"),
        None,
        [],
    ),
    (
        "build-working-dir-context",
        B,
        unit("Build", "ImageTag=a/b", "SetWorkingDirectory=/srv/ctx"),
        None,
        [],
    ),
    (
        "build-working-dir-relative-context-and-relative-file",
        B,
        unit("Build", "ImageTag=a/b", "SetWorkingDirectory=ctx", "File=Containerfile"),
        None,
        [],
    ),
    (
        "build-working-dir-empty",
        B,
        unit("Build", "ImageTag=a/b", "SetWorkingDirectory="),
        None,
        ["2: error [SetWorkingDirectory] neither SetWorkingDirectory, nor File key specified"],
    ),
    (
        "build-network-and-volume-missing",
        B,
        unit(
            "Build",
            "ImageTag=a/b",
            "File=/Containerfile",
            "Network=app.network",
            "Volume=data.volume:/d",
        ),
        {"t.build"},
        [
            "5: error [Network] requested Quadlet unit app.network was not found",
            "6: error [Volume] requested Quadlet source data.volume was not found",
        ],
    ),
    # --- .volume --------------------------------------------------------------------------
    ("volume-plain", V, unit("Volume", "Label=a=b"), None, []),
    (
        "volume-image-driver-without-image",
        V,
        unit("Volume", "Label=a=b", "Driver=image"),
        None,
        ["4: error [Image] the key Image is mandatory when using the image driver"],
    ),
    (
        "volume-image-driver-missing-quadlet-image",
        V,
        unit("Volume", "Driver=image", "Image=app.image"),
        {"t.volume"},
        ["4: error [Image] requested Quadlet image app.image was not found"],
    ),
    (
        "volume-image-driver-image",
        V,
        unit("Volume", "Driver=image", "Image=app.image", "Type=nfs"),
        {"t.volume", "app.image"},
        [],
    ),
    (
        "volume-type-without-device",
        V,
        unit("Volume", "Label=a=b", "Type=nfs"),
        None,
        ["4: error [Type] key Type can't be used without Device"],
    ),
    (
        "volume-type-with-device",
        V,
        unit("Volume", "Type=nfs", "Device=srv:/export"),
        None,
        [],
    ),
    # --- .network -------------------------------------------------------------------------
    (
        "network-gateways-ranges-per-subnet",
        N,
        unit(
            "Network",
            "Subnet=10.0.0.0/24",
            "Gateway=10.0.0.1",
            "IPRange=10.0.0.128/25",
        ),
        None,
        [],
    ),
    (
        "network-more-gateways-and-ranges",
        N,
        unit(
            "Network",
            "Subnet=10.0.0.0/24",
            "Gateway=10.0.0.1",
            "IPRange=10.0.0.128/25",
            "Subnet=10.0.1.0/24",
            "Gateway=10.0.1.1",
            "IPRange=10.0.1.128/25",
            "Gateway=10.0.2.1",
            "IPRange=10.0.2.128/25",
        ),
        None,
        [
            "9: error [Gateway] cannot set more gateways than subnets",
            "10: error [IPRange] cannot set more ranges than subnets",
        ],
    ),
    (
        # At the first value beyond the subnets (the one without a subnet of its own).
        "network-two-gateways-and-ranges-too-many",
        N,
        unit(
            "Network",
            "Subnet=10.0.0.0/24",
            "Gateway=10.0.0.1",
            "Gateway=10.0.1.1",
            "Gateway=10.0.2.1",
            "IPRange=10.0.0.128/25",
            "IPRange=10.0.1.128/25",
            "IPRange=10.0.2.128/25",
        ),
        None,
        [
            "5: error [Gateway] cannot set more gateways than subnets",
            "8: error [IPRange] cannot set more ranges than subnets",
        ],
    ),
    (
        "network-range-without-subnet",
        N,
        unit("Network", "Label=a=b", "IPRange=10.0.0.128/25"),
        None,
        ["4: error [IPRange] cannot set gateway or range without subnet"],
    ),
    (
        "network-gateway-and-range-without-subnet",
        N,
        unit("Network", "IPRange=10.0.0.128/25", "Gateway=10.0.0.1"),
        None,
        ["4: error [Gateway] cannot set gateway or range without subnet"],
    ),
    # --- .image, .artifact ------------------------------------------------------------------
    (
        "image-without-image",
        "t.image",
        unit("Image", "AllTags=true"),
        None,
        ["2: error [Image] no Image key specified"],
    ),
    (
        "artifact-without-artifact",
        "t.artifact",
        unit("Artifact", "Quiet=true"),
        None,
        ["2: error [Artifact] no Artifact key specified"],
    ),
    # --- unit names ----------------------------------------------------------------------
    (
        "file-name-with-space",
        "my app.container",
        unit("Container", IMG),
        None,
        ["1: error [] " + UNIT_NAME.format("the file name 'my app.container'")],
    ),
    (
        "service-name-path",
        C,
        unit("Container", IMG, "ServiceName=../evil"),
        None,
        [f"4: error [ServiceName] {UNIT_NAME.format('ServiceName=../evil')}"],
    ),
    ("service-name-template", C, unit("Container", IMG, "ServiceName=app@x.y"), None, []),
    (
        "service-name-two-ats",
        C,
        unit("Container", IMG, "ServiceName=a@b@c"),
        None,
        [f"4: error [ServiceName] {UNIT_NAME.format('ServiceName=a@b@c')}"],
    ),
    # 247 + ".service" = 255 characters: the longest name systemd takes.
    ("service-name-255", C, unit("Container", IMG, "ServiceName=" + "a" * 247), None, []),
    (
        "service-name-256",
        C,
        unit("Container", IMG, "ServiceName=" + "a" * 248),
        None,
        [f"4: error [ServiceName] {UNIT_NAME.format('ServiceName=' + 'a' * 248)}"],
    ),
    # The service of a .volume is NAME-volume.service: 240 + 15 = 255 characters.
    ("file-name-255", "a" * 240 + ".volume", unit("Volume", "Label=a=b"), None, []),
    (
        "file-name-256",
        LONG,
        unit("Volume", "Label=a=b"),
        None,
        [f"1: error [] {UNIT_NAME.format(f'the file name {LONG!r}')}"],
    ),
    # --- keys in the wrong section, unknown keys -------------------------------------------
    (
        "keys-of-other-sections-in-container",
        C,
        unit("Container", IMG, "Restart=always", "Description=x", "WantedBy=a.target"),
        None,
        [
            "4: error [Restart] Restart= belongs in [Service], not in [Container]; move it there",
            "5: error [Description] Description= belongs in [Unit], not in [Container]; move it "
            "there",
            "6: error [WantedBy] WantedBy= belongs in [Install], not in [Container]; move it there",
        ],
    ),
    (
        "unknown-keys",
        C,
        unit("Container", IMG, "Imag=x", "Zzzzzz=1"),
        None,
        [
            "4: error [Imag] unknown key 'Imag' in [Container]; did you mean 'Image'?",
            "5: error [Zzzzzz] unknown key 'Zzzzzz' in [Container]",
        ],
    ),
    (
        "container-key-in-quadlet-section",
        C,
        unit("Container", IMG) + "[Quadlet]\nDefaultDependencies=no\nImage=x\n",
        None,
        ["6: error [Image] Image= belongs in [Container], not in [Quadlet]; move it there"],
    ),
    (
        "quadlet-keys-in-systemd-sections",
        C,
        unit(
            "Container",
            IMG,
            unit_=("Description=x", "FancyNewKey=1", "Image=y"),
            service=("Restart=always", "Exec=/bin/true", "PodmanArgs=-q"),
        )
        + "[Install]\nWantedBy=default.target\nAfter=x.target\n",
        None,
        [
            "5: error [Image] Image= belongs in [Container], not in [Unit] (systemd ignores it "
            "there); move it",
            "10: error [Exec] Exec= belongs in [Container], not in [Service] (systemd ignores it "
            "there); move it",
            "11: error [PodmanArgs] PodmanArgs= belongs in [Container], not in [Service] "
            "(systemd ignores it there); move it",
            "14: error [After] After= belongs in [Unit], not in [Install] (systemd ignores it "
            "there); move it",
        ],
    ),
    (
        "user-and-group-in-service",
        C,
        unit("Container", IMG, service=("Restart=always", "User=app", "Group=app")),
        None,
        [
            f"6: warning [User] {SERVICE_KEY.format('User')}",
            f"7: warning [Group] {SERVICE_KEY.format('Group')}",
        ],
    ),
    # --- escapes and unquoted values ---------------------------------------------------------
    (
        "unsupported-escape",
        C,
        unit("Container", IMG, r"Exec=/bin/echo a\qb"),
        None,
        [
            r"4: warning [Exec] unsupported escape char in Exec=/bin/echo a\qb (write a literal "
            r"backslash as \\)"
        ],
    ),
    (
        "label-and-annotation-lost-quotes",
        C,
        unit(
            "Container",
            IMG,
            "Label=a=1 b",
            "Annotation=x=Host(y) && z",
            'Label="c=with space" d=2',
            "Label=solo e=3",
            "Environment=A=1 B",
        ),
        None,
        [
            "4: warning [Label] Label=: token 'b' has no '=' and follows a KEY=VALUE: a value with "
            'spaces must be quoted, e.g. Label="KEY=value with spaces"',
            "5: warning [Annotation] Annotation=: token '&&' has no '=' and follows a "
            'KEY=VALUE: a value with spaces must be quoted, e.g. Annotation="KEY=value with '
            'spaces"',
        ],
    ),
    # --- dependencies on Quadlet units ---------------------------------------------------------
    (
        "dependencies-missing",
        C,
        unit(
            "Container",
            IMG,
            unit_=(
                "After=network-online.target db.container",
                'Requires="cache.service" "app.volume"',
                "Wants=web.container",
            ),
        ),
        {"t.container", "web.container"},
        [
            "3: error [After] unable to translate dependency for db.container: no such "
            "Quadlet unit beside this one",
            "4: error [Requires] unable to translate dependency for app.volume: no such "
            "Quadlet unit beside this one",
        ],
    ),
    (
        # podman reads dependencies as LookupAllStrv does: escapes kept, so this is no
        # Quadlet unit name.
        "dependency-escaped-dot",
        C,
        unit("Container", IMG, unit_=(r"After=db\x2econtainer",)),
        {"t.container"},
        [],
    ),
    (
        # A value podman cannot split is dropped: the parser's error only, no dependency.
        "dependency-unterminated-quote",
        C,
        unit("Container", IMG, unit_=('After="db.container',)),
        {"t.container"},
        ["3: error [After] After: unterminated quote in value '\"db.container'"],
    ),
    (
        "label-unterminated-quote",
        C,
        unit("Container", IMG, 'Label=a=1 b "c'),
        None,
        ["4: error [Label] Label: unterminated quote in value 'a=1 b \"c'"],
    ),
    # --- the unit type -------------------------------------------------------------------------
    (
        "unknown-unit-type",
        "t.service",
        unit("Service", "ExecStart=/bin/true"),
        None,
        [
            "1: error [] unknown Quadlet unit type '.service' (expected one of .container, "
            ".volume, .network, .pod, .kube, .image, .build, .artifact)"
        ],
    ),
]


@pytest.mark.parametrize(
    ("filename", "text", "siblings", "expected"),
    [c[1:] for c in CASES],
    ids=[c[0] for c in CASES],
)
def test_unit_gives_exactly_these_problems(
    filename: str, text: str, siblings: set[str] | None, expected: list[str]
) -> None:
    assert lint(filename, text, siblings) == expected


def test_case_ids_are_unique() -> None:
    ids = [c[0] for c in CASES]
    assert len(ids) == len(set(ids)) and len(CASES) > 80


# --- podman 5.4 ------------------------------------------------------------------------------


def test_newer_than_5_4_names_each_newer_key_at_its_line() -> None:
    text = unit("Container", IMG, "Memory=1g", "User=1", "Retry=3", "Memory=2g")
    got = rendered(newer_than_5_4(parse_unit(text, C)), C)
    said = "needs podman newer than 5.4 (5.4 refuses the unit: unsupported key '{0}')"
    assert got == [
        f"4: error [Memory] key Memory in [Container] {said.format('Memory')}",
        f"6: error [Retry] key Retry in [Container] {said.format('Retry')}",
        f"7: error [Memory] key Memory in [Container] {said.format('Memory')}",
    ]


def test_newer_than_5_4_artifact_unit_and_old_keys() -> None:
    art = "t.artifact"
    got = rendered(newer_than_5_4(parse_unit(unit("Artifact", "Artifact=x"), art)), art)
    assert got == ["1: error [] .artifact units need podman newer than 5.4 (5.4 ignores the file)"]
    assert newer_than_5_4(parse_unit(unit("Container", IMG, "User=1"), C)) == []
    assert newer_than_5_4(parse_unit(unit("Service", "ExecStart=/x"), "t.service")) == []


# --- units edited in code (line 0): a problem is placed at line 1 ------------------------------


def test_problem_of_an_added_value_is_at_line_one() -> None:
    u = parse_unit(unit("Container", IMG), C)
    u.add("Container", "ExposeHostPort", "http")
    assert rendered(lint_unit(u), C) == ["1: error [ExposeHostPort] invalid port format 'http'"]


def test_problem_of_a_key_added_in_code_is_at_its_section() -> None:
    u = parse_unit(unit("Container", IMG), C)
    u.add("Container", "Group", "1000")
    assert rendered(lint_unit(u), C) == ["2: error [Group] invalid Group set without User"]


# --- check(): a path, or text and a file name ---------------------------------------------------


def test_check_text_default_file_name() -> None:
    problems = check("# case\n[Container]\nExec=/bin/true\n")
    assert rendered(problems, "unit.container") == [
        "2: error [Image] no Image or Rootfs key specified: podman cannot create this container"
    ]


def test_check_text_ending_in_a_unit_name_is_text_not_a_path() -> None:
    # No newline at the end, the last word a unit file name: still text (it has newlines).
    text = "# case\n[Container]\nImage=docker.io/a/b\nPod=app.pod"
    assert check(text) == []
    assert check(text, "x.container") == []
    assert rendered(check(text, "x.container", {"x.container"}), "x.container") == [
        "4: error [Pod] quadlet pod unit app.pod does not exist"
    ]


def test_check_text_refused_bytes_are_reported_with_their_file_and_line() -> None:
    problems = check("# case\n[Container]\nImage=a\x07b\n", "x.container")
    assert rendered(problems, "x.container") == [
        "3: error [] the control character U+0007 at column 8; remove it"
    ]
    crlf = check("[Container]\r\nImage=docker.io/a/b\r\n", "y.container")
    assert rendered(crlf, "y.container") == [
        "1: error [] lines end in CR LF (Windows line endings); run `homelab quadlet fmt -w "
        "y.container` (it rewrites them as LF)"
    ]


def test_check_long_line_is_refused() -> None:
    problems = check("[Container]\nImage=docker.io/a/b\nExec=" + "x" * 70000 + "\n", "z.container")
    assert [(p.line, p.key) for p in problems] == [(3, "")]
    assert "longer than" in problems[0].message or "long" in problems[0].message


def test_check_path_reads_the_file_and_its_folder(tmp_path: Path) -> None:
    f = tmp_path / "app.container"
    f.write_text(unit("Container", IMG, "Network=app.network"))
    missing = ["4: error [Network] requested Quadlet unit app.network was not found"]
    assert rendered(check(f), str(f)) == missing
    assert rendered(check(str(f)), str(f)) == missing
    (tmp_path / "app.network").write_text("[Network]\n")
    (tmp_path / "notes.txt").write_text("")
    assert check(f) == []
    assert check(str(f)) == []
    assert rendered(check(f, "shown.container"), "shown.container") == []


def test_check_path_with_refused_bytes(tmp_path: Path) -> None:
    f = tmp_path / "app.container"
    f.write_bytes(b"[Container]\r\nImage=docker.io/a/b\r\n")
    assert rendered(check(f), str(f)) == [
        f"1: error [] lines end in CR LF (Windows line endings); run `homelab quadlet fmt -w "
        f"{f}` (it rewrites them as LF)"
    ]
    g = tmp_path / "long.container"
    g.write_text("[Container]\nImage=docker.io/a/b\nExec=" + "x" * 70000 + "\n")
    assert [(p.file, p.line) for p in check(g)] == [(str(g), 3)]
    assert [(p.file, p.line) for p in check(tmp_path / "gone.container")] == [
        (str(tmp_path / "gone.container"), 1)
    ]
