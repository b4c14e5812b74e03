"""Helpers for the vm-test scenarios: a stand-in base image served over loopback, a stack
shaped like Pulumi.vm-test.yaml, libvirt's own view through virsh, and a last-resort cleanup.

The stand-in is a real qcow2 made with qemu-img. Its first sector is a boot sector that prints
MARKER on the serial port and halts: the domain really boots from the overlay disk the stack
made (the console log shows it), never reaches for the network (no PXE, no DHCP) and costs no
CPU under TCG once halted.
"""

from __future__ import annotations

import functools
import hashlib
import http.server
import ipaddress
import itertools
import json
import lzma
import os
import re
import shutil
import signal
import subprocess
import threading
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import pytest
import yaml

URI = "qemu:///system"
MARKER = b"homelab-standin-booted"
QEMU_NS = "{http://libvirt.org/schemas/domain/qemu/1.0}"

# 16-bit real mode at 0x7c00: print MARKER on COM1 (0x3f8), then halt for good.
#   cli; cld; xor ax,ax; mov ds,ax; mov si,msg; mov dx,0x3f8
#   next: lodsb; test al,al; jz done; out dx,al; jmp next
#   done: hlt; jmp done
_BOOT_CODE = bytes.fromhex("fa fc 31c0 8ed8 be177c baf803 ac 84c0 7403 ee ebf8 f4 ebfd")


def boot_sector(message: bytes = MARKER) -> bytes:
    code = _BOOT_CODE + message + b"\r\n\0"  # msg sits right after the code, at 0x7c17
    assert len(_BOOT_CODE) == 0x17 and len(code) <= 510
    return code.ljust(510, b"\0") + b"\x55\xaa"


def require(*tools: str) -> None:
    missing = [t for t in tools if shutil.which(t) is None]
    if missing:
        pytest.fail(f"missing {', '.join(missing)}: run scripts/libvirt-up (it installs them)")


def standin_image(dest_dir: Path, virtual_mib: int = 64) -> Path:
    """A bootable qcow2 made with qemu-img from a raw disk holding the boot sector."""
    require("qemu-img")
    raw = dest_dir / "standin.raw"
    with raw.open("wb") as fh:
        fh.write(boot_sector())
        fh.truncate(virtual_mib << 20)
    out = dest_dir / "standin.qcow2"
    subprocess.run(
        ["qemu-img", "convert", "-f", "raw", "-O", "qcow2", str(raw), str(out)], check=True
    )
    raw.unlink()
    return out


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextmanager
def serve(directory: Path) -> Iterator[str]:
    """A loopback HTTP server for `directory`; yields its base URL."""
    handler = functools.partial(_QuietHandler, directory=str(directory))
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    try:
        yield f"http://127.0.0.1:{srv.server_address[1]}"
    finally:
        srv.shutdown()
        srv.server_close()


def xz_for_serving(image: Path, www: Path) -> tuple[str, str]:
    """(file name, sha256 of the .xz) of `image` compressed into `www`, like FCOS ships it."""
    www.mkdir(parents=True, exist_ok=True)
    name = image.name + ".xz"
    data = lzma.compress(image.read_bytes(), format=lzma.FORMAT_XZ)
    (www / name).write_bytes(data)
    return name, hashlib.sha256(data).hexdigest()


def virsh(*args: str, check: bool = True) -> str:
    p = subprocess.run(["virsh", "-c", URI, *args], capture_output=True, text=True, check=False)
    if check and p.returncode != 0:
        raise AssertionError(f"virsh {' '.join(args)} failed: {p.stderr.strip()}")
    return p.stdout


def virsh_ok(*args: str) -> bool:
    return (
        subprocess.run(["virsh", "-c", URI, *args], capture_output=True, check=False).returncode
        == 0
    )


def require_libvirt() -> None:
    require("virsh", "qemu-img", "xsltproc", "dnsmasq")
    if not virsh_ok("version"):
        pytest.fail(f"libvirtd does not answer on {URI}: run scripts/libvirt-up")


def _names(*args: str) -> list[str]:
    return sorted(n for n in virsh(*args).split() if n)


def inventory() -> dict[str, Any]:
    """libvirt's whole view: domains (name -> uuid), networks, pools, volumes per pool."""
    domains = {n: virsh("domuuid", n).strip() for n in _names("list", "--all", "--name")}
    pools = _names("pool-list", "--all", "--name")
    volumes = {}
    for p in pools:
        out = virsh("vol-list", p, check=False)
        volumes[p] = sorted(line.split()[0] for line in out.splitlines()[2:] if line.strip())
    return {
        "domains": domains,
        "networks": _names("net-list", "--all", "--name"),
        "pools": pools,
        "volumes": volumes,
    }


def domain_xml(name: str) -> ET.Element:
    return ET.fromstring(virsh("dumpxml", name))


def fw_cfg_file(dom: ET.Element, key: str = "opt/com.coreos/config") -> Path:
    args = [a.get("value", "") for a in dom.iter(f"{QEMU_NS}arg")]
    for flag, value in itertools.pairwise(args):
        if flag == "-fw_cfg" and value.startswith(f"name={key},file="):
            return Path(value.removeprefix(f"name={key},file="))
    raise AssertionError(f"no -fw_cfg {key} on the domain's qemu command line: {args}")


def guest_sent_packets(domain: str) -> int:
    """Packets the guest put on its network, as libvirt counts them (the guest's view)."""
    total = 0
    for line in virsh("domiflist", domain).splitlines()[2:]:
        if line.split():
            stats = virsh("domifstat", domain, line.split()[0])
            total += int(re.search(r"tx_packets (\d+)", stats).group(1))  # type: ignore[union-attr]
    return total


def free_subnet() -> str:
    """A /24 that overlaps nothing this machine routes or any libvirt network uses, so the
    test network can never shadow the host's own networks (libvirt would refuse it anyway)."""
    used: list[ipaddress.IPv4Network] = []
    routes = subprocess.run(
        ["ip", "-4", "-o", "route", "show", "table", "all"], capture_output=True, text=True
    ).stdout
    for line in routes.splitlines():
        dest = line.split()[0] if line.split() else ""
        if dest and dest[0].isdigit():
            used.append(ipaddress.ip_network(dest, strict=False))
    for net in _names("net-list", "--all", "--name"):
        for ip in ET.fromstring(virsh("net-dumpxml", net)).iter("ip"):
            if ip.get("address") and ip.get("family", "ipv4") == "ipv4":
                prefix = ip.get("prefix") or ip.get("netmask") or "24"
                used.append(ipaddress.ip_network(f"{ip.get('address')}/{prefix}", strict=False))
    for third in range(200, 255):
        cand = ipaddress.ip_network(f"10.254.{third}.0/24")
        if not any(cand.overlaps(u) for u in used):
            return str(cand)
    raise AssertionError("no free 10.254.x.0/24 for the test network")


def vm_stack_file(
    repo: Path, project: Path, stack: str, vm_overrides: dict[str, Any]
) -> dict[str, Any]:
    """Pulumi.<stack>.yaml = the tracked Pulumi.vm-test.yaml with a few `homelab:vm` keys
    replaced (image, checksum, sizes, where things go); everything else as users have it."""
    doc = yaml.safe_load((repo / "Pulumi.vm-test.yaml").read_text())
    doc["config"]["homelab:vm"] = {**doc["config"]["homelab:vm"], **vm_overrides}
    (project / f"Pulumi.{stack}.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))
    return doc


def process_tree(pid: int) -> list[int]:
    """`pid` and every descendant, found through /proc (plugins start their own groups)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry))
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(children.get(p, []))
    return out


def kill_tree(pids: list[int]) -> None:
    for p in pids:
        with suppress(ProcessLookupError):
            os.kill(p, signal.SIGKILL)


def repair_truncated_attrs(state: Path) -> list[Path]:
    """What README's troubleshooting tells a user after `failed to load checkpoint: EOF`: a
    kill during a state write can leave an empty `.attrs` sidecar (gocloud's fileblob
    truncates it before writing); without it the backend reads the checkpoint fine."""
    empty = [p for p in (state / ".pulumi").rglob("*.attrs") if p.stat().st_size == 0]
    for p in empty:
        p.unlink()
    return empty


def destroy_leftovers(prefix: str, pool_path: Path | None = None) -> list[str]:
    """Last resort after a failed test: remove this test's own libvirt objects by name."""
    removed = []
    for d in _names("list", "--all", "--name"):
        if d.startswith(prefix):
            virsh("destroy", d, check=False)
            virsh("undefine", d, check=False)
            removed.append(f"domain {d}")
    for n in _names("net-list", "--all", "--name"):
        if n.startswith(prefix):
            virsh("net-destroy", n, check=False)
            virsh("net-undefine", n, check=False)
            removed.append(f"network {n}")
    for p in _names("pool-list", "--all", "--name"):
        virsh("pool-start", p, check=False)
        virsh("pool-refresh", p, check=False)
        for line in virsh("vol-list", p, check=False).splitlines()[2:]:
            vol = line.split()[0] if line.split() else ""
            if vol.startswith(prefix):
                virsh("vol-delete", "--pool", p, vol, check=False)
                removed.append(f"volume {p}/{vol}")
        if p.startswith(prefix):
            virsh("pool-destroy", p, check=False)
            virsh("pool-undefine", p, check=False)
            removed.append(f"pool {p}")
    if pool_path is not None and pool_path.exists():
        shutil.rmtree(pool_path)
    return removed


def pending_operations(exported: str) -> list[dict[str, Any]]:
    return json.loads(exported)["deployment"].get("pending_operations") or []
