#!/usr/bin/env bash
# Every document the code and docs cite must be in the repository
# (docs/conventions.md §4). Checks, in every tracked text file:
# - each `path.md §N` (or `§N.M`) reference names a file that exists
#   (relative to the repository root, or to the citing file's folder) and
#   that has a heading numbered N (`## N.` / `### N.M`);
# - no file cites the team-internal names DESIGN.md or CONVENTIONS.md, which
#   are not in the repository (cite docs/design.md or docs/conventions.md).
# RFC sections (`RFC 9420 §14`) are not documents of ours and are not checked.
set -euo pipefail
cd "$(dirname "$0")/../.."
python3 - <<'EOF'
import os, re, subprocess, sys

files = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                       capture_output=True, check=True).stdout.decode().split("\0")
ref = re.compile(r"([A-Za-z0-9_./-]+\.md) §(\d+(?:\.\d+)*)")
bare = re.compile(r"(?<![A-Za-z0-9_/.-])(DESIGN|CONVENTIONS)\.md")
headings = {}

def sections(path):
    if path not in headings:
        found = set()
        with open(path, encoding="utf-8") as f:
            for line in f:
                m = re.match(r"#+\s+§?(\d+(?:\.\d+)*)\.?\s", line)
                if m:
                    found.add(m.group(1))
        headings[path] = found
    return headings[path]

problems = []
checked = 0
for name in files:
    if not name or not os.path.isfile(name) or name == "scripts/test.d/doc-refs.sh":
        continue
    try:
        text = open(name, encoding="utf-8").read()
    except (UnicodeDecodeError, OSError):
        continue
    for lineno, line in enumerate(text.splitlines(), 1):
        for m in bare.finditer(line):
            problems.append(f"{name}:{lineno}: cites {m.group(0)}, which is not in the repository; "
                            f"cite docs/{m.group(1).lower()}.md instead")
        for m in ref.finditer(line):
            if m.group(1) in ("DESIGN.md", "CONVENTIONS.md"):
                continue  # reported above
            checked += 1
            target, section = m.group(1), m.group(2)
            candidates = [target, os.path.join(os.path.dirname(name), target)]
            path = next((c for c in candidates if os.path.isfile(c)), None)
            if path is None:
                problems.append(f"{name}:{lineno}: cites {target} §{section}, but {target} is not in the repository")
            elif section not in sections(path):
                have = ", ".join(sorted(sections(path))) or "none"
                problems.append(f"{name}:{lineno}: cites {target} §{section}, but {path} has no section {section} "
                                f"(numbered sections: {have})")
for p in problems:
    print(p, file=sys.stderr)
if problems:
    print(f"{len(problems)} broken document reference(s); fix the reference or add the section", file=sys.stderr)
    sys.exit(1)
print(f"document references: {checked} checked, all resolve")
EOF
