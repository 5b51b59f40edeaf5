#!/usr/bin/env python3
"""Every #[ignore] in crates/ either says what tool the test needs
(`ignore = "needs ..."`: .ci/run runs it with --include-ignored) or names a
test .ci/run skips by name (one ignored for its cost, which must not run
there).

Usage: ignored.py --skip NAME [--skip NAME ...]   (the skips .ci/run passes)
"""

import pathlib
import re
import sys

skipped = set(sys.argv[2::2])
attr = re.compile(r'#\[(?:cfg_attr\(.*,\s*)?ignore\b(?:\s*=\s*"([^"]*)")?')
function = re.compile(r"\bfn\s+(\w+)")
bad = []
for path in sorted(pathlib.Path("crates").rglob("*.rs")):
    text = path.read_text()
    for m in attr.finditer(text):
        if (m.group(1) or "").startswith("needs "):
            continue
        name = function.search(text, m.end())
        if not name or name.group(1) not in skipped:
            line = text.count("\n", 0, m.start()) + 1
            bad.append(f"{path}:{line}")
if bad:
    sys.exit(
        'ignored neither for a tool (ignore = "needs ...") nor skipped by .ci/run: '
        + " ".join(bad)
    )
