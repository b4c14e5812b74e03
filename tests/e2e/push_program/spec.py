"""The hand-built FileSet of the push test program; the tests import it for expected hashes."""

from typing import Any

from homelab.fileset import FileSet, ManagedDir, ManagedFile, ManagedLink
from homelab.hostplan import SECRETS_HELPER, SECRETS_HELPER_TEXT


def build_fileset(spec: dict[str, Any]) -> FileSet:
    """spec = {"containers": {NAME: {"image", "port", "rev"}}, "notes": optional text}."""
    files: list[ManagedFile] = []
    dirs: list[ManagedDir] = []
    units: list[str] = []
    for name, c in sorted(spec["containers"].items()):
        unit = f"{name}.service"
        units.append(unit)
        files.append(
            ManagedFile(
                path=f"/etc/containers/systemd/{name}.container",
                content=(
                    "[Unit]\n"
                    f"Description={name} (homelab push test)\n"
                    "Requires=zfs-import-tank.service\n"
                    "After=zfs-import-tank.service\n\n"
                    "[Container]\n"
                    f"Image={c['image']}\n"
                    f"ContainerName={name}\n"
                    f"Environment=HOMELAB_REV={c.get('rev', '1')} PORT={c['port']}\n"
                    f"Secret={name}-WEB_PASSWORD,type=env,target=WEB_PASSWORD\n"
                    f"PublishPort=127.0.0.1:{c['port']}:{c['port']}\n"
                    f"Volume=/var/tank/services/{name}:/data:Z\n\n"
                    "[Service]\n"
                    "Restart=on-failure\n"
                    f"ExecStartPre={SECRETS_HELPER} {name}\n\n"
                    "[Install]\n"
                    "WantedBy=multi-user.target\n"
                ),
                units=(unit,),
            )
        )
        files.append(
            ManagedFile(
                path=f"/etc/homelab/env/{name}.env",
                mode=0o600,
                secret_env=(("WEB_PASSWORD", "webPassword"),),
                units=(unit,),
                in_ignition=False,
            )
        )
        dirs.append(ManagedDir(path=f"/var/tank/services/{name}", mode=0o750, uid=1000, gid=1000))
    # The same secret wiring as the real program (homelab.hostplan.wire_secrets).
    files.append(ManagedFile(path=SECRETS_HELPER, content=SECRETS_HELPER_TEXT, mode=0o755))
    if spec.get("broken"):
        # No Image=: podman's Quadlet generator rejects it.
        files.append(
            ManagedFile(
                path="/etc/containers/systemd/broken.container",
                content="[Container]\nExec=/bin/true\n",
                units=("broken.service",),
            )
        )
    if "notes" in spec:
        files.append(ManagedFile(path="/etc/homelab/notes.txt", content=spec["notes"]))

    fileset = FileSet(
        files=tuple(files),
        dirs=tuple(dirs),
        links=(ManagedLink(path="/etc/localtime", target="/usr/share/zoneinfo/UTC"),),
        units=tuple(units),
    )
    return fileset
