#!/usr/bin/env python3
"""Regenerates the table in docs/reference-faults.md by running `demo --strict --fault NAME` for every
fault the binary lists, and recording which items FAIL or WARN. Review the diff before committing:
the table is what tests/reference_faults.rs enforces.

Usage: cargo build && scripts/gen-fault-table.py
"""
import json
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

root = Path(__file__).resolve().parent.parent
binary = root / "target" / "debug" / "fapi-harness"
doc = root / "docs" / "reference-faults.md"

listed = subprocess.run([binary, "reference", "--list-faults"], capture_output=True, text=True, check=True).stdout
faults = [line.split("\t", 1) for line in listed.strip().splitlines()]
# Faults that need a slow item's wait: their runs include that item with --full and run nothing
# else (the other items are the same as without the fault's wait).
slow = {"code-lifetime-120s": "FAPI2-SP-5.3.2.1-11", "request-uri-never-expires": "RFC9126-4-2",
        "rs-accepts-expired-tokens": "FAPI2-SP-5.3.4-3/expired-token"}


def row(tmp, name, desc):
    out = Path(tmp) / name
    extra = ["--full", "--only", slow[name]] if name in slow else []
    proc = subprocess.run([binary, "demo", "--quiet", "--strict", "--fault", name, "--out", out, *extra],
                          capture_output=True, text=True)
    report = json.loads((out / "report.json").read_text())
    caught = sorted({(r["outcome"], r["key"]["id"]) for r in report["results"] if r["outcome"] in ("FAIL", "WARN")})
    if proc.returncode != 1 or not caught:
        print(f"{name}: exit {proc.returncode}, caught by {caught or 'nothing'}", file=sys.stderr)
    cells = "<br>".join(f"{o} `{i}`" for o, i in caught)
    return f"| `{name}` | {desc.replace('|', '/')} | {cells} |"


# A few runs at once: the slow faults' waits then overlap with the other runs.
with tempfile.TemporaryDirectory() as tmp, ThreadPoolExecutor(max_workers=3) as pool:
    rows = list(pool.map(lambda f: row(tmp, *f), faults))

text = doc.read_text()
head, _, rest = text.partition("| fault | what the server does wrong | caught by |\n|---|---|---|\n")
tail = rest[rest.index("\n\n"):] if "\n\n" in rest else "\n"
doc.write_text(head + "| fault | what the server does wrong | caught by |\n|---|---|---|\n" + "\n".join(rows) + tail)
print(f"{len(rows)} faults -> {doc}")
