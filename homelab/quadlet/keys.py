"""Supported keys per Quadlet unit type, from podman's pkg/systemd/quadlet/quadlet.go.

The tables are podman's `groupsInfo[...].SupportedKeys` for the podman of the peer corpus
(main branch, May 2026; see /work/shared/peer/podman-quadlet/README.md). Keys added after
podman 5.4 (the generator Debian 13 ships, and so the one our tests run) are listed in
`NEWER_THAN_5_4`, so a lint can say why an older host's generator refuses them.
"""

from __future__ import annotations

# Unit type (file extension) -> the Quadlet group podman reads. The one list of Quadlet file
# extensions: the CLI, the linter and (after its move) the push's drift check read it.
KIND_GROUP: dict[str, str] = {
    ".container": "Container",
    ".volume": "Volume",
    ".network": "Network",
    ".pod": "Pod",
    ".kube": "Kube",
    ".image": "Image",
    ".build": "Build",
    ".artifact": "Artifact",
}
QUADLET_GROUP = "Quadlet"
SYSTEMD_SECTIONS = frozenset({"Unit", "Service", "Install"})
QUADLET_KEYS = frozenset({"DefaultDependencies"})

_COMMON = {"ContainersConfModule", "GlobalArgs", "PodmanArgs", "ServiceName"}

SUPPORTED_KEYS: dict[str, frozenset[str]] = {
    "Container": frozenset(
        _COMMON
        | {
            "AddCapability",
            "AddDevice",
            "AddHost",
            "Annotation",
            "AppArmor",
            "AutoUpdate",
            "CgroupsMode",
            "ContainerName",
            "DNS",
            "DNSOption",
            "DNSSearch",
            "DropCapability",
            "Entrypoint",
            "Environment",
            "EnvironmentFile",
            "EnvironmentHost",
            "Exec",
            "ExposeHostPort",
            "GIDMap",
            "Group",
            "GroupAdd",
            "HealthCmd",
            "HealthInterval",
            "HealthLogDestination",
            "HealthMaxLogCount",
            "HealthMaxLogSize",
            "HealthOnFailure",
            "HealthRetries",
            "HealthStartPeriod",
            "HealthStartupCmd",
            "HealthStartupInterval",
            "HealthStartupRetries",
            "HealthStartupSuccess",
            "HealthStartupTimeout",
            "HealthTimeout",
            "HostName",
            "HttpProxy",
            "IP",
            "IP6",
            "Image",
            "Label",
            "LogDriver",
            "LogOpt",
            "Mask",
            "Memory",
            "Mount",
            "Network",
            "NetworkAlias",
            "NoNewPrivileges",
            "Notify",
            "PidsLimit",
            "Pod",
            "PublishPort",
            "Pull",
            "ReadOnly",
            "ReadOnlyTmpfs",
            "ReloadCmd",
            "ReloadSignal",
            "RemapGid",
            "RemapUid",
            "RemapUidSize",
            "RemapUsers",
            "Retry",
            "RetryDelay",
            "Rootfs",
            "RunInit",
            "SeccompProfile",
            "Secret",
            "SecurityLabelDisable",
            "SecurityLabelFileType",
            "SecurityLabelLevel",
            "SecurityLabelNested",
            "SecurityLabelType",
            "ShmSize",
            "StartWithPod",
            "StopSignal",
            "StopTimeout",
            "SubGIDMap",
            "SubUIDMap",
            "Sysctl",
            "Timezone",
            "Tmpfs",
            "UIDMap",
            "Ulimit",
            "Unmask",
            "User",
            "UserNS",
            "VolatileTmp",
            "Volume",
            "WorkingDir",
        }
    ),
    "Volume": frozenset(
        _COMMON
        | {
            "Copy",
            "Device",
            "Driver",
            "GID",
            "Group",
            "Image",
            "Label",
            "Options",
            "Type",
            "UID",
            "User",
            "VolumeName",
        }
    ),
    "Network": frozenset(
        _COMMON
        | {
            "DNS",
            "DisableDNS",
            "Driver",
            "Gateway",
            "IPAMDriver",
            "IPRange",
            "IPv6",
            "InterfaceName",
            "Internal",
            "Label",
            "NetworkDeleteOnStop",
            "NetworkName",
            "Options",
            "Subnet",
        }
    ),
    "Kube": frozenset(
        _COMMON
        | {
            "AutoUpdate",
            "ConfigMap",
            "ExitCodePropagation",
            "KubeDownForce",
            "LogDriver",
            "LogOpt",
            "Network",
            "PublishPort",
            "RemapGid",
            "RemapUid",
            "RemapUidSize",
            "RemapUsers",
            "SetWorkingDirectory",
            "UserNS",
            "Yaml",
        }
    ),
    "Image": frozenset(
        _COMMON
        | {
            "AllTags",
            "Arch",
            "AuthFile",
            "CertDir",
            "Creds",
            "DecryptionKey",
            "Image",
            "ImageTag",
            "OS",
            "Policy",
            "Retry",
            "RetryDelay",
            "TLSVerify",
            "Variant",
        }
    ),
    "Build": frozenset(
        _COMMON
        | {
            "Annotation",
            "Arch",
            "AuthFile",
            "BuildArg",
            "DNS",
            "DNSOption",
            "DNSSearch",
            "Environment",
            "File",
            "ForceRM",
            "GroupAdd",
            "IgnoreFile",
            "ImageTag",
            "Label",
            "Network",
            "Pull",
            "Retry",
            "RetryDelay",
            "Secret",
            "SetWorkingDirectory",
            "Target",
            "TLSVerify",
            "Variant",
            "Volume",
        }
    ),
    "Pod": frozenset(
        _COMMON
        | {
            "AddHost",
            "DNS",
            "DNSOption",
            "DNSSearch",
            "ExitPolicy",
            "GIDMap",
            "HostName",
            "IP",
            "IP6",
            "Label",
            "Network",
            "NetworkAlias",
            "PodName",
            "PublishPort",
            "RemapGid",
            "RemapUid",
            "RemapUidSize",
            "RemapUsers",
            "ShmSize",
            "StopTimeout",
            "SubGIDMap",
            "SubUIDMap",
            "UIDMap",
            "UserNS",
            "Volume",
        }
    ),
    "Artifact": frozenset(
        _COMMON
        | {
            "Artifact",
            "AuthFile",
            "CertDir",
            "Creds",
            "DecryptionKey",
            "Quiet",
            "Retry",
            "RetryDelay",
            "TLSVerify",
        }
    ),
}

# Keys (group, key) that the podman 5.4 generator does not know yet (it refuses the unit
# with "unsupported key"). Checked against the real 5.4.2 generator by the peer suite.
NEWER_THAN_5_4: frozenset[tuple[str, str]] = frozenset(
    {
        ("Container", "AppArmor"),
        ("Container", "HttpProxy"),
        ("Container", "Memory"),
        ("Container", "ReloadCmd"),
        ("Container", "ReloadSignal"),
        ("Container", "Retry"),
        ("Container", "RetryDelay"),
        ("Build", "BuildArg"),
        ("Build", "IgnoreFile"),
        ("Build", "Retry"),
        ("Build", "RetryDelay"),
        ("Image", "Policy"),
        ("Image", "Retry"),
        ("Image", "RetryDelay"),
        ("Network", "InterfaceName"),
        ("Network", "NetworkDeleteOnStop"),
        ("Pod", "ExitPolicy"),
        ("Pod", "HostName"),
        ("Pod", "Label"),
        ("Pod", "StopTimeout"),
        ("Volume", "UID"),
        ("Volume", "GID"),
    }
)
# Unit types the podman 5.4 generator does not read at all.
KINDS_NEWER_THAN_5_4 = frozenset({".artifact"})

# How podman reads a key's value (this decides the quoting rules that apply to it).
# LookupAllArgs / LookupLastArgs: split, unquote, C unescapes.
SPLIT_ARGS_KEYS = frozenset(
    {
        "PodmanArgs",
        "GlobalArgs",
        "Mask",
        "Unmask",
        "EnvironmentFile",
        "Secret",
        "Mount",
        "Exec",
        "ReloadCmd",
    }
)
# LookupAllKeyVal: KEY=VALUE words, split, unquote, C unescapes.
KEYVAL_KEYS = frozenset({"Environment", "Label", "Annotation", "Options", "BuildArg"})
# LookupAllStrv: split, unquote, escapes kept.
SPLIT_STRV_KEYS = frozenset(
    {
        "AddDevice",
        "AddCapability",
        "DropCapability",
        "Sysctl",
        "LogOpt",
        "UIDMap",
        "GIDMap",
        "RemapUid",
        "RemapGid",
        "AutoUpdate",
        "ConfigMap",
    }
)
# systemd splits these itself ([Service] command lines).
SYSTEMD_ARGS_KEYS = frozenset(
    {
        "ExecStart",
        "ExecStartPre",
        "ExecStartPost",
        "ExecStop",
        "ExecStopPost",
        "ExecReload",
        "ExecCondition",
    }
)
# [Unit] keys whose Quadlet unit names podman translates to service names.
UNIT_DEPENDENCY_KEYS = frozenset(
    {
        "After",
        "Before",
        "BindsTo",
        "Conflicts",
        "OnFailure",
        "OnSuccess",
        "PartOf",
        "PropagatesReloadTo",
        "PropagatesStopTo",
        "ReloadPropagatedFrom",
        "Requires",
        "Requisite",
        "StopPropagatedFrom",
        "Upholds",
        "Wants",
    }
)
# [Service] keys podman warns about: Quadlet runs podman as the unit's user already.
SERVICE_UNSUPPORTED = ("User", "Group", "DynamicUser")
# Service name suffix per unit type (podman's Get*ServiceName).
SERVICE_SUFFIX = {
    ".container": "",
    ".kube": "",
    ".volume": "-volume",
    ".network": "-network",
    ".image": "-image",
    ".build": "-build",
    ".pod": "-pod",
    ".artifact": "-artifact",
}


def valid_sections(kind: str) -> frozenset[str]:
    """Sections a unit of this type may have (X-* extension sections are always allowed)."""
    group = KIND_GROUP.get(kind)
    if group is None:  # not a Quadlet file name: accept any Quadlet group
        return SYSTEMD_SECTIONS | {QUADLET_GROUP} | set(KIND_GROUP.values())
    return SYSTEMD_SECTIONS | {QUADLET_GROUP, group}
