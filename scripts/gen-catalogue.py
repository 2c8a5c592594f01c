#!/usr/bin/env python3
"""Regenerates data/requirements.json from the requirement catalogue (shared/requirements.md).

Usage: scripts/gen-catalogue.py [path/to/requirements.md]
"""
import json
import re
import sys
from pathlib import Path

root = Path(__file__).resolve().parent.parent
src = Path(sys.argv[1]) if len(sys.argv) > 1 else root.parent / "shared" / "requirements.md"
ID = re.compile(r"^[A-Z][A-Z0-9]*(-[A-Z0-9]+)*-[0-9A-Za-z.]+(-[0-9A-Za-z.]+)*$")

rows, seen, section = [], set(), None
for line in src.read_text(encoding="utf-8").splitlines():
    if line.startswith("#"):
        section = line.strip("# ")
        continue
    if not line.startswith("| "):
        continue
    cells = [c.strip() for c in line.strip().strip("|").split("|")]
    if len(cells) < 5 or not ID.match(cells[0]) or cells[0] in seen:
        continue
    seen.add(cells[0])
    rows.append(dict(id=cells[0], level=cells[1], requirement=cells[2], testable=cells[3], how=cells[4], section=section))

out = root / "data" / "requirements.json"
out.write_text(json.dumps(rows, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
print(f"{len(rows)} requirements -> {out}")
