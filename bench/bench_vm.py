"""vm-test figures through the real engine and libvirtd (TCG), medians of N runs:
`pulumi up` and `pulumi destroy` of the stand-in VM, and a no-change `pulumi preview` next to
its floor, the preview of a program with zero resources on the same language host.

Same stack shape and stand-in image as tests/e2e/test_vm_stack.py (stack `e2e-bench`, so
scripts/leftovers sees anything left behind). Needs scripts/install-tools and
scripts/libvirt-up.

Usage: uv run python bench/bench_vm.py [--runs 5]
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
from tests.e2e import vmlab  # noqa: E402
from tests.e2e.pulumi_cli import Stack, new_stack, program_copy, project_copy  # noqa: E402

STACK = "e2e-bench"
FLOOR_PROGRAM = """\
name: floor
description: zero resources, the same language host and toolchain as homelab
runtime:
  name: python
  options:
    toolchain: uv
"""


def timed(st: Stack, *args: str) -> float:
    t0 = time.perf_counter()
    st.run(*args)
    return time.perf_counter() - t0


def line(label: str, xs: list[float]) -> float:
    m = statistics.median(xs)
    print(f"{label:<46} median {m:6.2f} s   runs: {' '.join(f'{x:.2f}' for x in xs)}")
    return m


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=5)
    n = ap.parse_args().runs
    vmlab.require_libvirt()
    work = Path(tempfile.mkdtemp(prefix="bench-vm-"))
    pool_parent = Path(tempfile.mkdtemp(prefix="homelab-e2e-bench-", dir="/var/lib/libvirt/images"))
    pool_parent.chmod(0o711)
    st: Stack | None = None
    try:
        www = work / "www"
        image, sha = vmlab.xz_for_serving(vmlab.standin_image(work), www)
        with vmlab.serve(www) as url:
            project = project_copy(work / "project")
            vmlab.vm_stack_file(
                REPO,
                project,
                STACK,
                {
                    "base_image": f"{url}/{image}",
                    "base_image_sha256": sha,
                    "disk_size_gib": 1,
                    "memory_mib": 256,
                    "vcpus": 1,
                    "pool_path": str(pool_parent / "pool"),
                    "cache_dir": str(work / "cache"),
                    "network_cidr": vmlab.free_subnet(),
                },
            )
            st = new_stack(project, work / "state", STACK)
            for name in load_for_build(STACK, project).secret_names():
                st.set_secret(name, f"bench-{name}")

            floor_src = work / "floor-src"
            floor_src.mkdir()
            (floor_src / "Pulumi.yaml").write_text(FLOOR_PROGRAM)
            (floor_src / "__main__.py").write_text("import pulumi  # noqa: F401\n")
            floor = new_stack(program_copy(floor_src, work / "floor"), work / "state", "floor")
            floor.run("up", "--yes", "--skip-preview")

            ups, destroys, previews, floors = [], [], [], []
            st.run("up", "--yes", "--skip-preview")  # warm: image fetched and cached
            st.run("destroy", "--yes", "--skip-preview")
            for _ in range(n):
                ups.append(timed(st, "up", "--yes", "--skip-preview"))
                for _ in range(2):  # interleaved, so machine noise hits both alike
                    previews.append(timed(st, "preview", "--expect-no-changes"))
                    floors.append(timed(floor, "preview", "--expect-no-changes"))
                destroys.append(timed(st, "destroy", "--yes", "--skip-preview"))

        print(f"vm-test stand-in VM (TCG, 256 MiB, 1 vCPU, 16 resources), {n} runs:")
        line("pulumi up --skip-preview", ups)
        line("pulumi destroy --skip-preview", destroys)
        p = line("pulumi preview, no change (VM up)", previews)
        f = line("pulumi preview, zero-resource program (floor)", floors)
        print(f"{'ratio no-change preview / floor':<46} {p / f:.2f}x  (+{p - f:.2f} s)")
    finally:
        if st is not None:
            st.run("destroy", "--yes", "--skip-preview", check=False)
        left = vmlab.destroy_leftovers(f"homelab-{STACK}", pool_parent / "pool")
        shutil.rmtree(pool_parent, ignore_errors=True)
        shutil.rmtree(work, ignore_errors=True)
        for log in (f"homelab-{STACK}-console.log", f"homelab-{STACK}.log"):
            Path("/var/log/libvirt/qemu", log).unlink(missing_ok=True)
        if left:
            print(f"bench_vm: destroy left {left} (removed)", file=sys.stderr)


if __name__ == "__main__":
    main()
