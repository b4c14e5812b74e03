"""Reading `homelab:` config out of the running Pulumi program (the edge of the program)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from homelab.config import NAMESPACE, ConfigError, StackConfig, load_stack_config, locate


def pulumi_config_values() -> tuple[dict[str, Any], set[str]]:
    """(non-secret homelab config, names of secret homelab keys), keys without namespace."""
    from pulumi.runtime import config as rc

    # Language hosts hand config over either in memory (set_all_config) or in the
    # PULUMI_CONFIG environment variable, depending on their version; read both.
    config = {**rc.get_config_env(), **rc.CONFIG.get()}
    keys = set(rc.get_config_secret_keys_env()) | set(rc._SECRET_KEYS.get())
    secret_keys = {k.partition(":")[2] for k in keys if k.startswith(NAMESPACE + ":")}
    values: dict[str, Any] = {}
    for key, raw in config.items():
        ns, _, short = key.partition(":")
        if ns != NAMESPACE or short in secret_keys:
            continue
        try:
            values[short] = json.loads(raw)
        except ValueError:
            values[short] = raw
    return values, secret_keys


def load_program_config(
    stack: str, values: dict[str, Any], secret_keys: set[str], project_dir: Path
) -> StackConfig:
    """Validate config; plain (non-secret) values under a secret's key are refused."""
    referenced = {
        s
        for c in (values.get("containers") or {}).values()
        if isinstance(c, dict)
        for s in (c.get("secrets") or {}).values()
    }
    plain = sorted(referenced & set(values))
    if plain:
        raise ConfigError(
            [
                f"{locate(project_dir, [stack], (k,))}: {NAMESPACE}:{k}: is set in plain text; "
                f"remove it and set it as a secret: "
                f"`pulumi config rm -s {stack} {k} && pulumi config set --secret -s {stack} {k} "
                "<value>`"
                for k in plain
            ]
        )
    values = {k: v for k, v in values.items() if k not in referenced}
    return load_stack_config(stack, values, project_dir)


def missing_secrets(cfg: StackConfig, secret_keys: set[str]) -> list[str]:
    return [
        f"Pulumi.{cfg.stack}.yaml: {NAMESPACE}:{name}: required secret is not set; set it with "
        f"`pulumi config set --secret -s {cfg.stack} {name} <value>`"
        for name in cfg.secret_names()
        if name not in secret_keys
    ]
