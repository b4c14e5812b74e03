"""homelab: one host definition -> Ignition (first boot), a libvirt VM, or an SSH push.

Thin wiring only: config is validated, the host laid out and checked with the real tools
(and, for vm-test's `up`, the base image verified) before any resource is registered, so bad
input never reaches a machine.
"""

from pathlib import Path

import pulumi

from components.host import Host, HostArgs
from components.push import HostPush, HostPushArgs
from homelab.host.layout import LayoutError, layout_host
from homelab.host.stack import ConfigError, StackFiles, pick_secrets
from homelab.program import exit_quietly_on_interrupt, program_config, snapshots_notice
from homelab.tools import ToolError, check_layout, owner_access_problems
from homelab.vm.host import VmHostError
from homelab.vm.image import ImageError
from homelab.vm.prepare import prepare_vm

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
    layout = layout_host(cfg, PROJECT_DIR, files)
    check_layout(layout)
    secret_values = pick_secrets(cfg, given, files)
    # Never lock the owner out: the key the push connects with must survive it.
    if access := owner_access_problems(cfg, layout.fileset, files):
        raise ConfigError(access)
    if pulumi.runtime.is_dry_run() and (notice := snapshots_notice(cfg)):
        pulumi.log.info(notice)
    # vm-test: the base image, domain type and qemu's group, before anything is registered.
    vm = prepare_vm(cfg.vm, pulumi.runtime.is_dry_run()) if cfg.vm is not None else None
except (ConfigError, LayoutError, ToolError, ImageError, VmHostError) as exc:
    # RunError: the message is the whole story; a traceback would only hide it.
    raise pulumi.RunError(f"homelab: stack {stack!r} was not deployed:\n{exc}") from None

secrets = {name: pulumi.Output.secret(value) for name, value in secret_values.items()}
pushed: HostPush | None = None
if vm is None and cfg.ssh is not None:
    # The push first: a failed one leaves the Ignition recorded as it was (see HostArgs.after).
    pushed = HostPush(
        cfg.host.hostname,
        HostPushArgs(fileset=layout.fileset, ssh=cfg.ssh, push=cfg.push, secrets=secrets),
    )
host = Host(
    cfg.host.hostname,
    HostArgs(layout=layout, secrets=secrets, after=(pushed,) if pushed is not None else ()),
)

pulumi.export("hostname", host.hostname)
pulumi.export("mode", cfg.mode)
pulumi.export("containers", {c.name: c.image for c in layout.containers})
pulumi.export("ignition", host.ignition)

if cfg.vm is not None and vm is not None:
    if vm.notice:
        pulumi.log.warn(vm.notice)
    # The libvirt SDK: only VM stacks pay for its import.
    from components.vm import TestVM, TestVMArgs

    test_vm = TestVM(
        f"homelab-{stack}",
        TestVMArgs(cfg.vm, host.ignition, str(vm.base_image), vm.domain_type, vm.qemu_gid),
    )
    pulumi.export("vm_ip", test_vm.ip)
    pulumi.export("ssh_command", test_vm.ssh_command)
    pulumi.export("console_log", test_vm.console_log)
elif pushed is not None:
    # Short on purpose: `pulumi up` prints every output at its end. The manifest and the
    # hashes are in `homelab build`.
    pulumi.export("generation", pushed.generation)
    pulumi.export("last_push", pushed.last_push)
    pulumi.export("drift", pushed.drift)
