#!/usr/bin/env python3
"""Checks the runtime crate's layering (docs/architecture.md): every
`crate::` path in crates/heapwise/src names its own folder or a layer below.

    python3 .ci/layers.py        # exit 1 and one line per violation
"""
import pathlib
import re
import sys

SRC = pathlib.Path(__file__).resolve().parent.parent / "crates/heapwise/src"

# Lowest first. Folders on one line are one level: they may import the
# levels before them, never each other.
LEVELS = [
    ["sys", "util"],
    ["local"],
    ["events"],
    ["scope"],
    ["profile"],
    ["snapshot"],
    ["stats"],
    ["probe"],
    ["alloc", "record", "testing"],
    ["http"],
    ["guide"],  # the manual's chapters: docs only
]
LEVEL = {name: i for i, names in enumerate(LEVELS) for name in names}

# What lib.rs re-exports at the crate root, by the layer that defines it.
ROOT = {
    "Alloc": "alloc",
    "installed": "local", "stats": "local", "Stats": "local", "Usage": "local",
    "Cancelled": "scope", "Instrumented": "scope", "Limited": "scope",
    "LimitExceeded": "scope", "LimitKind": "scope", "Remaining": "scope",
    "track": "scope", "untracked": "scope", "Scope": "scope", "ScopeGuard": "scope",
    "Bytes": "util", "KIB": "util", "MIB": "util", "GIB": "util", "TIB": "util",
    "pprof": None,  # the heapwise-pprof crate
}

PATH = re.compile(r"\bcrate::(\{[^}]*\}|[A-Za-z_][A-Za-z0-9_]*)")


def code_lines(text):
    """The file's lines with comments (and so doc comments) removed."""
    for n, line in enumerate(text.splitlines(), 1):
        yield n, line.split("//", 1)[0]


def targets(segment):
    if segment.startswith("{"):
        for part in segment[1:-1].split(","):
            part = part.strip()
            if part:
                yield re.split(r"[:\s]", part, maxsplit=1)[0]
    else:
        yield segment


def main():
    bad = []
    for path in sorted(SRC.rglob("*.rs")):
        rel = path.relative_to(SRC)
        if rel.parts == ("lib.rs",):
            continue  # the root wires the layers together
        own = rel.parts[0].removesuffix(".rs")
        if own not in LEVEL:
            bad.append(f"{rel}: folder '{own}' is in no layer (add it to .ci/layers.py and docs/architecture.md)")
            continue
        for n, line in code_lines(path.read_text()):
            for m in PATH.finditer(line):
                for name in targets(m.group(1)):
                    layer = ROOT.get(name, name) if name in ROOT else name
                    if layer is None or layer == own or name == "self":
                        continue
                    if layer not in LEVEL:
                        bad.append(f"{rel}:{n}: crate::{name} is in no layer")
                    elif LEVEL[layer] >= LEVEL[own]:
                        bad.append(f"{rel}:{n}: '{own}' imports crate::{name} ('{layer}' is not below it)")
    for b in bad:
        print(b)
    if bad:
        print(f"{len(bad)} import(s) break the layering (docs/architecture.md)", file=sys.stderr)
        return 1
    print(f"layering holds: {sum(1 for _ in SRC.rglob('*.rs'))} files")
    return 0


if __name__ == "__main__":
    sys.exit(main())
