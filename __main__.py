"""homelab: one host definition -> Ignition (first boot), a libvirt VM, or an SSH push.

Thin wiring only: config is validated, the file set planned and checked with the real tools
(and, for vm-test's `up`, the base image verified) before any resource is registered, so bad
input never reaches a machine.
"""

from pathlib import Path

import pulumi

from components.host import Host, HostArgs
from components.push import HostPush, HostPushArgs
from homelab.host.plan import PlanError, plan_host
from homelab.host.stack import ConfigError, StackFiles, pick_secrets
from homelab.program import exit_quietly_on_interrupt, program_config, snapshots_notice
from homelab.tools import ToolError, check_plan
from homelab.vm.host import VmHostError, qemu_gid, read_capabilities
from homelab.vm.image import (
    ImageError,
    cached_path,
    detect_domain_type,
    ensure_base_image,
    preview_notice,
)

exit_quietly_on_interrupt()
PROJECT_DIR = Path(__file__).resolve().parent
stack = pulumi.get_stack()

try:
    # One read of the config: what the language host handed over (public API), and each
    # stack file at most once, for base_stack and the lines problems point at.
    files = StackFiles(PROJECT_DIR)
    cfg, given = program_config(
        stack,
        PROJECT_DIR,
        pulumi.runtime.get_config_env(),
        pulumi.runtime.get_config_secret_keys_env(),
        files,
    )
    plan = plan_host(cfg, PROJECT_DIR, files)
    check_plan(plan)
    secret_values = pick_secrets(cfg, given, files)
    if pulumi.runtime.is_dry_run() and (notice := snapshots_notice(cfg)):
        pulumi.log.info(notice)
    base_image = None
    if cfg.vm is not None:
        # A preview never downloads; `up` verifies (or fetches) the image before anything.
        if pulumi.runtime.is_dry_run():
            base_image = cached_path(cfg.vm)
            if notice := preview_notice(cfg.vm):
                pulumi.log.warn(notice)
        else:
            base_image = ensure_base_image(cfg.vm)
        domain_type = cfg.vm.domain_type or detect_domain_type(cfg.vm.uri)
        vm_gid = qemu_gid(read_capabilities(cfg.vm.uri), domain_type)
except (ConfigError, PlanError, ToolError, ImageError, VmHostError) as exc:
    # RunError: the message is the whole story; a traceback would only hide it.
    raise pulumi.RunError(f"homelab: stack {stack!r} was not deployed:\n{exc}") from None

secrets = {name: pulumi.Output.secret(value) for name, value in secret_values.items()}
host = Host(cfg.host.hostname, HostArgs(plan=plan, secrets=secrets))

pulumi.export("hostname", host.hostname)
pulumi.export("mode", cfg.mode)
pulumi.export("containers", {c.name: c.image for c in plan.containers})
pulumi.export("files", host.files)
pulumi.export("ignition", host.ignition)

if cfg.vm is not None and base_image is not None:
    # The libvirt SDK: only VM stacks pay for its import.
    from components.vm import TestVM, TestVMArgs

    vm = TestVM(
        f"homelab-{stack}",
        TestVMArgs(cfg.vm, host.ignition, str(base_image), domain_type, vm_gid),
    )
    pulumi.export("vm_ip", vm.ip)
    pulumi.export("ssh_command", vm.ssh_command)
    pulumi.export("console_log", vm.console_log)
elif cfg.ssh is not None:
    pushed = HostPush(
        cfg.host.hostname,
        HostPushArgs(fileset=plan.fileset, ssh=cfg.ssh, push=cfg.push, secrets=secrets),
    )
    pulumi.export("generation", pushed.generation)
    pulumi.export("applied_at", pushed.applied_at)
    pulumi.export("pushed_hashes", pushed.hashes)
    pulumi.export("drift", pushed.drift)
