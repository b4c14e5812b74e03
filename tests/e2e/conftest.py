"""Session fixtures shared by the e2e tests: one simulated host per session (defined once
here, so every module gets the same instance), with mouse's stand-in images."""

from tests.e2e.mouse_stack import mouse_host
from tests.e2e.simhost import simhost

__all__ = ["mouse_host", "simhost"]
