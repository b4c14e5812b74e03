"""homelab: one host definition -> Ignition (first boot), a libvirt VM, or an SSH push.

Thin wiring only: config is validated, the file set planned and checked with the real tools
(and, for vm-test's `up`, the base image verified) before any resource is registered, so bad
input never reaches a machine.
"""

import os
from pathlib import Path

import pulumi

from components import startup

# Before anything heavy: a push stack's provider process starts while the program imports
# (components/startup.py).
push_provider = startup.push_provider()
startup.import_while_registering("components.host", "components.push", "homelab.validate")

from components.host import Host
from components.push import HostPush
from homelab.config import ConfigError
from homelab.hostplan import PlanError, plan_host
from homelab.program import load_program_config, missing_secrets, pulumi_config_values
from homelab.tools import ToolError
from homelab.validate import validate_plan
from homelab.vmimage import ImageError, cached_path, detect_domain_type, ensure_base_image

PROJECT_DIR = Path(__file__).resolve().parent
stack = pulumi.get_stack()

try:
    values, secret_keys = pulumi_config_values()
    cfg = load_program_config(stack, values, secret_keys, PROJECT_DIR)
    plan = plan_host(cfg, PROJECT_DIR)
    validate_plan(plan)
    missing = missing_secrets(cfg, secret_keys)
    if missing:
        raise ConfigError(missing)
    base_image = None
    if cfg.vm is not None:
        # A preview never downloads; `up` verifies (or fetches) the image before anything.
        cached = cached_path(cfg.vm)
        base_image = cached if pulumi.runtime.is_dry_run() else ensure_base_image(cfg.vm)
except (ConfigError, PlanError, ToolError, ImageError) as exc:
    # RunError: the message is the whole story; a traceback would only hide it.
    raise pulumi.RunError(f"homelab: stack {stack!r} was not deployed:\n{exc}") from None

config = pulumi.Config()
secrets = {name: config.require_secret(name) for name in cfg.secret_names()}
host = Host(cfg.host.hostname, plan, secrets)

pulumi.export("hostname", host.hostname)
pulumi.export("mode", cfg.mode)
pulumi.export("containers", {c.name: c.image for c in plan.containers})
pulumi.export("files", host.files)
pulumi.export("ignition", host.ignition)

if cfg.vm is not None and base_image is not None:
    from components.vm import TestVM  # the libvirt SDK: only VM stacks pay for its import

    vm = TestVM(
        f"homelab-{stack}",
        cfg.vm,
        host.ignition,
        str(base_image),
        cfg.vm.domain_type or detect_domain_type(cfg.vm.uri),
    )
    pulumi.export("vm_ip", vm.ip)
    pulumi.export("ssh_command", vm.ssh_command)
    pulumi.export("console_log", vm.console_log)
elif cfg.ssh is not None:
    ssh = cfg.ssh.model_dump()
    if ssh["private_key_path"]:
        ssh["private_key_path"] = os.path.expanduser(ssh["private_key_path"])
    pushed = HostPush(
        cfg.host.hostname,
        plan.fileset,
        ssh,
        secrets=secrets,
        health_timeout=cfg.push.health_timeout,
        settle=cfg.push.settle,
        provider=push_provider,
    )
    pulumi.export("generation", pushed.generation)
    pulumi.export("applied_at", pushed.applied_at)
    pulumi.export("pushed_hashes", pushed.hashes)
    pulumi.export("drift", pushed.drift)
