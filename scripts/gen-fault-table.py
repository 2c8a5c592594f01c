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
from pathlib import Path

root = Path(__file__).resolve().parent.parent
binary = root / "target" / "debug" / "fapi-harness"
doc = root / "docs" / "reference-faults.md"

listed = subprocess.run([binary, "reference", "--list-faults"], capture_output=True, text=True, check=True).stdout
faults = [line.split("\t", 1) for line in listed.strip().splitlines()]
rows = []
with tempfile.TemporaryDirectory() as tmp:
    for name, desc in faults:
        out = Path(tmp) / name
        slow = {"code-lifetime-120s": "FAPI2-SP-5.3.2.1-11", "request-uri-never-expires": "RFC9126-4-2"}
        extra = ["--full", "--only", slow[name]] if name in slow else []
        proc = subprocess.run([binary, "demo", "--quiet", "--strict", "--fault", name, "--out", out, *extra],
                              capture_output=True, text=True)
        report = json.loads((out / "report.json").read_text())
        caught = sorted({(r["outcome"], r["key"]["id"]) for r in report["results"] if r["outcome"] in ("FAIL", "WARN")})
        if proc.returncode != 1 or not caught:
            print(f"{name}: exit {proc.returncode}, caught by {caught or 'nothing'}", file=sys.stderr)
        cells = "<br>".join(f"{o} `{i}`" for o, i in caught)
        rows.append(f"| `{name}` | {desc.replace('|', '/')} | {cells} |")

text = doc.read_text()
head, _, rest = text.partition("| fault | what the server does wrong | caught by |\n|---|---|---|\n")
tail = rest[rest.index("\n\n"):] if "\n\n" in rest else "\n"
doc.write_text(head + "| fault | what the server does wrong | caught by |\n|---|---|---|\n" + "\n".join(rows) + tail)
print(f"{len(rows)} faults -> {doc}")
