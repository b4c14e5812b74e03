"""Podman Quadlet unit files, the language of `containers/`: podman's own syntax (split,
parser), key tables (keys), the typed model (model, values), canonical text (render),
podman's checks (lint) and the house rules for a container (rules). Pure: no I/O but
`check` reading the file it is given."""

from homelab.quadlet.keys import KIND_GROUP
from homelab.quadlet.lint import check, lint_unit, newer_than_5_4
from homelab.quadlet.model import Problem, QuadletError, QuadletUnit
from homelab.quadlet.parser import parse_unit
from homelab.quadlet.render import Line, Section
from homelab.quadlet.split import escape_word, split_words
from homelab.quadlet.values import ImageRef, PublishedPort, VolumeMount

__all__ = [
    "KIND_GROUP",
    "ImageRef",
    "Line",
    "Problem",
    "PublishedPort",
    "QuadletError",
    "QuadletUnit",
    "Section",
    "VolumeMount",
    "check",
    "escape_word",
    "lint_unit",
    "newer_than_5_4",
    "parse_unit",
    "split_words",
]
