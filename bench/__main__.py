"""Run every benchmark and print the table: `python -m bench` (`make bench`); `--quick` for a smoke run."""

from __future__ import annotations

import argparse
import time

from . import engine_overhead, long_running, pages, reads, split, throughput, two_nodes
from .common import Table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small sizes, to check the benchmarks run")
    quick = parser.parse_args().quick
    table = Table()
    began = time.perf_counter()
    print("engine overhead", flush=True)
    engine_overhead.run(table, repeat=50 if quick else 300)
    print("where a completion's time goes", flush=True)
    split.run(table, repeat=50 if quick else 300)
    print("long-running instance", flush=True)
    long_running.run(table, rounds=60 if quick else 1000)
    print("reads as data grows", flush=True)
    reads.run(table, small=1000, large=5000 if quick else 100_000, repeat=50 if quick else 200)
    print("pages on the demo's data", flush=True)
    pages.run(table, repeat=50 if quick else 200)
    print("throughput under load", flush=True)
    throughput.run(table, seconds=5 if quick else 20)
    print("a second node", flush=True)
    two_nodes.run(table, seconds=5 if quick else 15)
    table.print()
    print(f"\n{time.perf_counter() - began:.0f} s in all")


if __name__ == "__main__":
    main()
