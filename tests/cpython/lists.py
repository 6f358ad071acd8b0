"""Reading and writing the two data files of the conformance runner.

Both files share one format::

    # a comment
    test_module                        # reason          (not_applicable only)
    test_module.Class                  # reason          (not_applicable only)
    test_module.Class.test_name        # reason [feature: sockets]

    [3.12]
    test_module.Class.test_other       # reason

Lines before the first ``[X.Y]`` marker apply to every Python version; lines
after one apply only to the versions it names (``[3.12]``, ``[3.12, 3.13]``).
The expected-failures file holds exact test ids; the not-applicable file may
also name a whole module or class, use `*` in a name, and take a test back out
of a listed class with a leading `!`:

    test_module.Class              # mocks the stdlib loop's selector
    !test_module.Class.test_name   # uses a real loop: applicable
"""

from __future__ import annotations

import dataclasses
import fnmatch
import re
from pathlib import Path

# The versions `make test-cpython` runs. An expected failure listed for all of
# them is written once, in the common section.
SUPPORTED_VERSIONS = ("3.11", "3.12", "3.13")

_SECTION = re.compile(r"^\[\s*([0-9.,\s]+|all)\s*\]$")
# "[feature: tls]": waits for a feature not built yet; "[bug: core]": a bug.
# "[flaky]" may come beside either.
_FEATURE = re.compile(r"\[(feature|bug):\s*([\w-]+)\]")


@dataclasses.dataclass
class Entry:
    test_id: str
    reason: str
    versions: tuple[str, ...] | None  # None: every version

    @property
    def feature(self) -> str | None:
        m = _FEATURE.search(self.reason)
        if not m:
            return None
        return m.group(2) if m.group(1) == "feature" else f"{m.group(2)} bug"

    @property
    def flaky(self) -> bool:
        """Marked "[flaky]": fails or passes depending on what ran before it.
        Passing is then no reason to remove the line."""
        return "[flaky]" in self.reason

    def applies_to(self, version: str) -> bool:
        return self.versions is None or version in self.versions

    def covers(self, test_id: str) -> bool:
        return matches(self.test_id, test_id)


def matches(pattern: str, test_id: str) -> bool:
    """True if `pattern` names this test, its class or its module. A `*` in
    the pattern matches any characters, so one entry can name a test of an
    event-loop mixin in every class that runs it:
    `test_events.*EventLoopTests.test_foo`."""
    if "*" in pattern:
        return fnmatch.fnmatchcase(test_id, pattern) or fnmatch.fnmatchcase(
            test_id, pattern + ".*"
        )
    return test_id == pattern or test_id.startswith(pattern + ".")


def parse(path: Path) -> list[Entry]:
    entries: list[Entry] = []
    if not path.exists():
        return entries
    versions: tuple[str, ...] | None = None
    for lineno, raw in enumerate(path.read_text().splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        section = _SECTION.match(line)
        if section:
            spec = section.group(1).strip()
            if spec == "all":
                versions = None
            else:
                versions = tuple(v.strip() for v in spec.split(",") if v.strip())
            continue
        test_id, _, reason = line.partition("#")
        test_id = test_id.strip()
        if not test_id.lstrip("!") or " " in test_id:
            raise ValueError(f"{path}:{lineno}: cannot parse {raw!r}")
        entries.append(Entry(test_id, reason.strip(), versions))
    return entries


def for_version(entries: list[Entry], version: str) -> list[Entry]:
    return [e for e in entries if e.applies_to(version)]


def excluded(patterns: list[str], test_id: str) -> bool:
    """True if a pattern covers the test and no `!pattern` takes it back."""
    hit = False
    for pattern in patterns:
        if pattern.startswith("!"):
            if matches(pattern[1:], test_id):
                return False
        elif not hit and matches(pattern, test_id):
            hit = True
    return hit


def _module_of(test_id: str) -> str:
    return test_id.split(".", 1)[0]


def regenerate(
    entries: list[Entry],
    version: str,
    failures: dict[str, str],
    modules_run: set[str],
    supported: tuple[str, ...] = SUPPORTED_VERSIONS,
) -> list[Entry]:
    """The expected-failures list after a run on `version`.

    `failures` maps each test id that failed on this run to a suggested reason
    (used only for ids that were not listed before). Only entries of modules
    that ran are touched. An id that no longer fails here is dropped for this
    version but kept for the others, since this run cannot tell whether it
    still fails there; an id that fails on every supported version is written
    once, without a version marker.
    """
    reasons: dict[str, str] = {}
    per_version: dict[str, dict[str, None]] = {v: {} for v in supported}
    if version not in per_version:
        per_version[version] = {}
    for e in entries:
        reasons.setdefault(e.test_id, e.reason)
        for v in e.versions or supported:
            per_version.setdefault(v, {})[e.test_id] = None

    here = per_version[version]
    for test_id in list(here):
        if _module_of(test_id) in modules_run and test_id not in failures:
            del here[test_id]
    for test_id, reason in failures.items():
        here[test_id] = None
        reasons.setdefault(test_id, reason)

    all_ids = {i for ids in per_version.values() for i in ids}
    result = []
    for test_id in all_ids:
        where = tuple(v for v in per_version if test_id in per_version[v])
        common = all(v in where for v in supported)
        result.append(Entry(test_id, reasons[test_id], None if common else where))
    return result


def _sort_key(test_id: str):
    return tuple(test_id.split("."))


def write(path: Path, header: str, entries: list[Entry]) -> None:
    """Write entries grouped by version section, sorted, one per line."""
    sections: dict[tuple[str, ...] | None, list[Entry]] = {}
    for e in entries:
        key = tuple(sorted(e.versions)) if e.versions is not None else None
        sections.setdefault(key, []).append(e)

    lines = [header.rstrip()]
    order = sorted(sections, key=lambda k: (k is not None, k or ()))
    for key in order:
        lines.append("")
        if key is not None:
            lines.append(f"[{', '.join(key)}]")
        width = max(len(e.test_id) for e in sections[key])
        previous_module = None
        for e in sorted(sections[key], key=lambda e: _sort_key(e.test_id)):
            module = _module_of(e.test_id)
            if previous_module is not None and module != previous_module:
                lines.append("")
            previous_module = module
            reason = f"  # {e.reason}" if e.reason else ""
            lines.append(f"{e.test_id.ljust(width)}{reason}".rstrip())
    path.write_text("\n".join(lines) + "\n")
