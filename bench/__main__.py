"""Every benchmark, one after the other: `.venv/bin/python -m bench [--quick] [--only a,b]`.

Each runs as its own process with its own command (shown before it runs, so that it can be
repeated alone) and prints its table and a last line with its key ratio; this runner
collects those last lines at the end. `--quick` runs the short variant of each (a few
minutes in all); without it the whole set takes about 35 minutes on 2 cores. The figures
and their meaning are in docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time

# name -> (full arguments, quick arguments)
BENCHMARKS: dict[str, tuple[list[str], list[str]]] = {
    "setup_time": (["--runs", "60"], ["--runs", "10"]),
    "setup_browser": (["--runs", "60"], ["--runs", "10"]),
    "gateway": (["latency", "--runs", "30"], ["latency", "--runs", "10"]),
    "flood": (["--sessions", "20", "--windows", "6", "--seconds", "3"],
              ["--sessions", "10", "--windows", "2", "--seconds", "2"]),
    "relay": ([], ["--quick"]),
    "capacity": ([], ["--quick"]),
    "loadpush": ([], ["--quick"]),
    "scaleout": ([], ["--quick"]),
    "report": (["--records", "1000000"], ["--records", "100000", "--runs", "2"]),
    "routing": ([], ["--quick"]),
}


def main() -> None:
    ap = argparse.ArgumentParser(prog="bench")
    ap.add_argument("--quick", action="store_true", help="the short variant of each")
    ap.add_argument("--only", help=f"comma list among {', '.join(BENCHMARKS)}")
    args = ap.parse_args()
    names = args.only.split(",") if args.only else list(BENCHMARKS)
    unknown = set(names) - set(BENCHMARKS)
    if unknown:
        ap.error(f"unknown benchmark(s): {', '.join(sorted(unknown))}")
    summary: list[tuple[str, str, float]] = []
    for name in names:
        full, quick = BENCHMARKS[name]
        command = [sys.executable, "-m", f"bench.{name}", *(quick if args.quick else full)]
        print(f"\n=== {' '.join(['python', *command[1:]])}", flush=True)
        started = time.monotonic()
        done = subprocess.run(command, stdout=subprocess.PIPE, text=True,  # noqa: S603
                              check=False)  # our own modules, our own arguments
        sys.stdout.write(done.stdout)
        lines = [line for line in done.stdout.splitlines() if line.strip()]
        last = lines[-1] if lines and done.returncode == 0 else f"failed ({done.returncode})"
        summary.append((name, last, time.monotonic() - started))
    print("\n=== summary (each benchmark's last line)")
    for name, last, took in summary:
        print(f"{name:<13} {took:>6.0f} s  {last}")


if __name__ == "__main__":
    main()
