"""Problems found while laying out a host, each `where: key: message`, where being a line of a
stack file or of a unit file: every problem found is reported at once."""

from __future__ import annotations

from homelab.host.stack import Keys, StackFiles


class LayoutError(Exception):
    """Bad input; `problems` are `where: key: message` lines a person can act on."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("\n".join(problems))


class Problems:
    """`files` and `stacks` (the stack, then the one it inherits from) place problems with a
    stack value; without them (`quadlet check` alone) no stack value is ever involved."""

    def __init__(self, files: StackFiles | None = None, stacks: list[str] | None = None):
        self.files = files
        self.stacks = stacks or []
        # (line in its unit file, or None for a stack-file problem; the text)
        self._found: list[tuple[int | None, str]] = []

    def __len__(self) -> int:
        return len(self._found)

    @property
    def lines(self) -> list[str]:
        return [text for _, text in self._found]

    def add(self, problem: str, line: int | None = None) -> None:
        self._found.append((line, problem))

    def stack(self, keys: Keys, msg: str) -> None:
        """A problem with a value the stack file sets: `Pulumi.x.yaml:LINE: homelab:key: msg`."""
        assert self.files is not None, "a stack value without the stack files"
        self._found.append((None, self.files.problem(self.stacks, keys, msg)))

    def unit(self, src: str, line: int | None, key: str, msg: str) -> None:
        """A problem with a line of a unit file: `containers/x.container:LINE: Key: msg`."""
        self._found.append((line or 0, f"{src}:{line or 0}: {key + ': ' if key else ''}{msg}"))

    def sort_from(self, start: int) -> None:
        """Put the problems found since `start` (one unit file's) in line order, the stack
        file's after them, each kind in the order found."""
        tail = self._found[start:]
        tail.sort(key=lambda f: (f[0] is None, f[0] or 0))
        self._found[start:] = tail
