"""homelab: Podman Quadlet containers on uCore, described once and delivered by Ignition or SSH."""
