"""Problems found while planning a host, each `where: key: message`, where being a line of a
stack file or of a unit file: every problem found is reported at once."""

from __future__ import annotations

from homelab.host.stack import Keys, StackFiles


class PlanError(Exception):
    """Bad input; `problems` are `where: key: message` lines a person can act on."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("\n".join(problems))


class Problems:
    def __init__(self, files: StackFiles, stacks: list[str]):
        self.files = files
        self.stacks = stacks  # the stack, then the one it inherits from
        self.lines: list[str] = []

    def __len__(self) -> int:
        return len(self.lines)

    def add(self, problem: str) -> None:
        self.lines.append(problem)

    def stack(self, keys: Keys, msg: str) -> None:
        """A problem with a value the stack file sets: `Pulumi.x.yaml:LINE: homelab:key: msg`."""
        self.lines.append(self.files.problem(self.stacks, keys, msg))

    def unit(self, src: str, line: int | None, key: str, msg: str) -> None:
        """A problem with a line of a unit file: `containers/x.container:LINE: Key: msg`."""
        self.lines.append(f"{src}:{line or 0}: {key}: {msg}")
