"""Fail when branch coverage of the given parts of the package is under a floor.

coverage.py's own --fail-under counts statements and branches together; the use cases and the
engine are held to a floor on branches alone (each untaken branch is an untested decision).

    python tools/branch_floor.py 90 services engine
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

import coverage


def main(floor: float, parts: list[str]) -> int:
    measured = coverage.Coverage()
    measured.load()  # the .coverage file the test run wrote
    with tempfile.TemporaryDirectory() as folder:
        report = Path(folder) / "coverage.json"
        measured.json_report(include=[f"*/approvals/{part}/*" for part in parts], outfile=str(report))
        totals = json.loads(report.read_text())["totals"]
    covered, total = totals["covered_branches"], totals["num_branches"]
    percent = 100 * covered / total if total else 100.0
    print(f"branch coverage of {', '.join(parts)}: {covered}/{total} = {percent:.1f}% (floor {floor}%)")
    return 0 if percent >= floor else 1


if __name__ == "__main__":
    sys.exit(main(float(sys.argv[1]), sys.argv[2:]))
