"""Run every benchmark: ``python -m benchmarks [--quick] [--only NAME ...]``.

Writes ``benchmarks/results/latest.json`` and prints a table. With ``--only`` the named modules' figures
replace theirs in the file and the others are kept (each figure records when it was measured). Each
``bench_*.py`` module measures the plugdesk path and its baseline alternately in the same run and reports
medians.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import platform
import sys
import time
import traceback
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

HERE = Path(__file__).parent


def machine() -> dict[str, object]:
    """Facts about the machine the figures come from."""
    return {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform(),
            "note": "load generator, servers and baselines share the same cores"}


def run_module(name: str, quick: bool, only: list[str] | None) -> list[dict[str, Any]]:
    """The figures of module ``name``: all of them, or with ``only`` just those it names (by module name, or
    by figure name for modules that map names to functions in ``FIGURES``)."""
    if only and name.removeprefix("bench_") not in only:
        if not any(figure in (HERE / f"{name}.py").read_text() for figure in only):
            return []  # cheap pre-check: no need to import a module that cannot hold the figure
        by_name = getattr(importlib.import_module(f"benchmarks.{name}"), "FIGURES", {})
        return [by_name[figure](quick) for figure in only if figure in by_name]
    return importlib.import_module(f"benchmarks.{name}").figures(quick)  # type: ignore[no-any-return]


def main(argv: list[str] | None = None) -> int:
    """Run the benchmarks and write the results."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks")
    parser.add_argument("--quick", action="store_true", help="short runs (a check, not a measurement)")
    parser.add_argument("--only", nargs="*", default=None,
                        help="module names without bench_ prefix, or figure names (e.g. outbox_send)")
    args = parser.parse_args(argv)
    modules = sorted(p.stem for p in HERE.glob("bench_*.py"))
    results, failures = [], []
    started = time.monotonic()
    for name in modules:
        t0 = time.monotonic()
        try:
            figures = run_module(name, args.quick, args.only)
        except Exception as exc:  # report and go on with the other figures
            traceback.print_exc()
            failures.append({"module": name, "error": f"{exc.__class__.__name__}: {exc}"})
            continue
        for fig in figures:
            fig["seconds"] = round(time.monotonic() - t0, 1)
            results.append(fig)
            print(f"{fig['name']:<22} {fig['value']:>12} {fig['unit']:<8} baseline {fig['baseline']:>12}  "
                  f"ratio {fig['ratio']:>7}  goal {fig['goal']}", flush=True)
    generated = datetime.now(UTC).isoformat()
    for fig in results:
        fig["generated"], fig["quick"] = generated, args.quick
    figures_out = {f["name"]: f for f in results}
    latest = HERE / "results" / "latest.json"
    if args.only and latest.exists():  # a partial run updates its figures and keeps the others
        try:
            figures_out = {**json.loads(latest.read_text()).get("figures", {}), **figures_out}
        except ValueError:
            pass
    out = {"generated": generated, "quick": args.quick, "machine": machine(),
           "total_seconds": round(time.monotonic() - started, 1),
           "figures": figures_out, "failures": failures, "modules": modules}
    (HERE / "results").mkdir(exist_ok=True)
    latest.write_text(json.dumps(out, indent=2))
    print(f"\n{'figure':<22} {'value':>12} {'unit':<8} {'baseline':>12} {'ratio':>7}  goal   note")
    for f in results:
        print(f"{f['name']:<22} {f['value']:>12} {f['unit']:<8} {f['baseline']:>12} {f['ratio']:>7}  "
              f"{f['goal']:<6} {f['note']}")
    for f in failures:
        print(f"FAILED {f['module']}: {f['error']}")
    print(f"\nwrote {HERE / 'results' / 'latest.json'} in {out['total_seconds']} s")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
