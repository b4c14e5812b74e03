"""homelab: one host definition -> Ignition (first boot), a libvirt VM, or an SSH push.

Thin wiring only: config is validated and the file set planned and checked with the real
tools before any resource is registered, so bad input never reaches a machine.
"""

from pathlib import Path

import pulumi

from components.host import Host
from homelab.config import ConfigError
from homelab.hostplan import PlanError, plan_host
from homelab.program import load_program_config, missing_secrets, pulumi_config_values
from homelab.tools import ToolError
from homelab.validate import validate_plan

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
except (ConfigError, PlanError, ToolError) as exc:
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
