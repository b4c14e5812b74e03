"""vm-test with the real test guest (scripts/vm-guest) under TCG: how long from `pulumi up` to
Ignition's start and to all five services active, and what dominates.

Same stack shape as tests/e2e/test_vm_guest.py (1 GiB, 2 vCPUs; stack `e2e-vmgbench`, so
scripts/leftovers sees anything left behind). The first `up` also downloads, verifies and
decompresses the served .qcow2.xz (cold); the next runs find it cached (warm). Each run is
`up`, the boot to the guest's probe report, then `destroy`.

Times on this machine's clock: the console log is polled, and the guest's monotonic clock
(systemd's ActiveEnterTimestampMonotonic of each service, the initramfs's uptime stamps) is
anchored at the moment its `switch_root` line appeared (error: the poll interval, 0.1 s).

Usage: flock /tmp/homelab-libvirt.lock uv run python bench/bench_vmguest.py [--runs 3]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from homelab.cli.build import load_for_build  # noqa: E402
from tests.e2e import vmguest, vmlab  # noqa: E402
from tests.e2e.pulumi_cli import Stack, new_stack, project_copy  # noqa: E402

STACK = "e2e-vmgbench"
NAME = f"homelab-{STACK}"
CONSOLE = Path(f"/var/log/libvirt/qemu/{NAME}-console.log")


def one_run(st: Stack) -> dict[str, float | str]:
    CONSOLE.unlink(missing_ok=True)
    t0 = time.time()
    st.run("up", "--yes", "--skip-preview")
    t_up = time.time()
    vmguest.renice_domain(NAME)
    seen: dict[str, float] = {}
    deadline = time.monotonic() + 900
    probe = None
    while probe is None:
        text = CONSOLE.read_text(errors="replace") if CONSOLE.exists() else ""
        now = time.time()
        for key in ("", "ignition-start", "switch_root"):
            if text and key in text and key not in seen:
                seen[key] = now
        probe = vmguest.parse(text)
        if time.monotonic() > deadline:
            raise SystemExit(f"no probe report in 900 s:\n{text[-3000:]}")
        time.sleep(0.1)
    active = list(probe.units.values())
    if not all(s[:2] == ("loaded", "active") for s in active):
        raise SystemExit(f"not all services active: {probe.units}")
    # Guest uptime -> this machine's clock, anchored at the switch_root line.
    anchor = seen["switch_root"] - probe.initramfs_at("switch_root")
    all_active = anchor + max(s[2] for s in active) / 1e6
    ign0 = probe.initramfs_at("ignition-start")
    ign1 = probe.initramfs_at("ignition-done")
    st.run("destroy", "--yes", "--skip-preview")
    return {
        "up": t_up - t0,
        "console": seen[""] - t0,
        "ignition_start": anchor + ign0 - t0,
        "ignition": ign1 - ign0,
        "switch_root_to_active": all_active - (anchor + probe.initramfs_at("switch_root")),
        "all_active": all_active - t0,
        "analyze": probe.analyze,
        "blame": "; ".join(probe.blame[:6]),
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=3, help="warm runs (after the cold one)")
    n = ap.parse_args().runs
    vmlab.require_libvirt()
    xz, sha = vmguest.guest_image()
    work = Path(tempfile.mkdtemp(prefix="bench-vmg-"))
    pool_parent = Path(
        tempfile.mkdtemp(prefix="homelab-e2e-vmgbench-", dir="/var/lib/libvirt/images")
    )
    pool_parent.chmod(0o711)
    st: Stack | None = None
    try:
        www = work / "www"
        www.mkdir()
        (www / xz.name).symlink_to(xz)
        with vmlab.serve(www) as url:
            project = project_copy(work / "project")
            vmlab.vm_stack_file(
                REPO,
                project,
                STACK,
                {
                    "base_image": f"{url}/{xz.name}",
                    "base_image_sha256": sha,
                    "disk_size_gib": 2,
                    "memory_mib": 1024,
                    "vcpus": 2,
                    "pool_path": str(pool_parent / "pool"),
                    "cache_dir": str(work / "cache"),
                    "network_cidr": vmlab.free_subnet(),
                },
            )
            st = new_stack(project, work / "state", STACK)
            for name in load_for_build(STACK, project).secret_names():
                st.set_secret(name, f"bench-{name}")
            runs = [one_run(st) for _ in range(n + 1)]

        cold, warm = runs[0], runs[1:]
        print(f"vm-test, real guest (TCG, 1 GiB, 2 vCPUs): 1 cold run, {n} warm runs")
        for key, label in (
            ("up", "`pulumi up` returns"),
            ("console", "first console output (the kernel)"),
            ("ignition_start", "Ignition starts (initramfs)"),
            ("ignition", "Ignition fetch-offline + files"),
            ("switch_root_to_active", "switch_root -> all 5 services active"),
            ("all_active", "`pulumi up` start -> all 5 services active"),
        ):
            xs = [float(r[key]) for r in warm]
            print(
                f"{label:<44} warm median {statistics.median(xs):6.2f} s"
                f" (runs {' '.join(f'{x:.2f}' for x in xs)}), cold {float(cold[key]):6.2f} s"
            )
        print(f"guest, last run: {warm[-1]['analyze']}")
        print(f"guest, slowest units (systemd-analyze blame): {warm[-1]['blame']}")
    finally:
        if st is not None:
            st.run("destroy", "--yes", "--skip-preview", check=False)
        left = vmlab.destroy_leftovers(NAME, pool_parent / "pool")
        shutil.rmtree(pool_parent, ignore_errors=True)
        shutil.rmtree(work, ignore_errors=True)
        for log in (CONSOLE, Path(f"/var/log/libvirt/qemu/{NAME}.log")):
            log.unlink(missing_ok=True)
        if left:
            print(f"bench_vmguest: destroy left {left} (removed)", file=sys.stderr)


if __name__ == "__main__":
    main()
