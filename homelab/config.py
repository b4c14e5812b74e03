"""Compatibility names for code not yet moved: stack config now lives in homelab.host.config
(models) and homelab.host.stack (reading the files). Remove once nothing imports this module."""

from homelab.host.config import ContainerConfig, HostConfig, SshConfig, StackConfig
from homelab.host.stack import ConfigError, load_stack_config, read_stack_file, stack_file

__all__ = [
    "ConfigError",
    "ContainerConfig",
    "HostConfig",
    "SshConfig",
    "StackConfig",
    "load_stack_config",
    "read_stack_file",
    "stack_file",
]
