"""``entropic-laws``: run the published entropy laws and claims as experiments, write the verdicts.

Examples::

    entropic-laws --quick                       # every claim on the bandit, a few minutes on 2 cores
    entropic-laws                               # full length (1,000 steps a run)
    entropic-laws --claims covariance_law,quadrants --out outputs/laws
    entropic-laws --list                        # the claims and their experiment configs
    entropic-laws --analyse outputs/2026-01-01/12-00-00   # the law analyses of any run's metrics.jsonl

Each claim's runs go under ``<out>/<claim>/<arm>/`` (``metrics.jsonl``, ``config.yaml``); the report is
``<out>/laws.md`` with ``<out>/plots/*.png``, and every number in it is in ``<out>/laws.json``.
"""

from __future__ import annotations

import argparse
import json
import logging
import multiprocessing
import os
import shlex
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed

import torch

from entropic.allocator import retain_freed_memory
from entropic.laws.analyse import analyse_run
from entropic.laws.claims import CLAIMS, Claim, ClaimRun, get_claim, run_claim
from entropic.laws.report import claim_record, merged_records, verdict_table, write_report

log = logging.getLogger("entropic.laws")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="entropic-laws", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer steps per run (same seeds, same verdict rules)")
    parser.add_argument("--claims", default="all", help="comma-separated claim names, or 'all' (default)")
    parser.add_argument("--out", default=None, help="output directory (default outputs/laws, or outputs/laws-quick)")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch CPU threads (default 1: the vectorised runs are small, and extra threads "
                             "contend on a loaded machine)")
    parser.add_argument("--jobs", type=int, default=min(2, os.cpu_count() or 1),
                        help="claims run in parallel processes (default: 2, or 1 on a single core)")
    parser.add_argument("--no-plots", action="store_true", help="skip the PNG plots")
    parser.add_argument("--list", action="store_true", help="list the claims and exit")
    parser.add_argument("--analyse", metavar="RUN_DIR", default=None,
                        help="print the law analyses of RUN_DIR/metrics.jsonl as JSON and exit")
    parser.add_argument("-v", "--verbose", action="store_true", help="log every arm")
    args = parser.parse_args(argv)
    for option in ("threads", "jobs"):
        if getattr(args, option) < 1:
            parser.error(f"argument --{option}: must be >= 1, got {getattr(args, option)}")
    return args


def main(argv: list[str] | None = None) -> int:
    """Console entry point; returns the process exit status (0 whatever the verdicts, 1 on a bad argument)."""
    args = parse_args(argv)
    retain_freed_memory()
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(asctime)s %(name)s %(levelname)s %(message)s")
    if args.list:
        for claim in CLAIMS:
            where = f"configs/experiment/{claim.experiment}.yaml" if claim.experiment else "(pending)"
            sys.stdout.write(f"{claim.name:24s} {where:48s} {claim.title}\n")
        return 0
    if args.analyse:
        try:
            sys.stdout.write(json.dumps(analyse_run(args.analyse), indent=1) + "\n")
        except (FileNotFoundError, ValueError) as error:
            log.error("%s", error)
            return 1
        return 0
    out = args.out or ("outputs/laws-quick" if args.quick else "outputs/laws")
    try:
        claims = CLAIMS if args.claims == "all" else tuple(get_claim(n.strip()) for n in args.claims.split(","))
        merged_records([], out, "", args.quick)  # a report of the other mode is refused before any work
    except ValueError as error:
        log.error("%s", error)
        return 1
    started = time.perf_counter()
    runs = run_claims(claims, out, args.quick, args.threads, args.jobs, args.verbose)
    command = "entropic-laws " + " ".join(shlex.quote(a) for a in (argv if argv is not None else sys.argv[1:]))
    report = write_report(runs, out, command.strip(), args.quick, plots=not args.no_plots,
                          wall_seconds=time.perf_counter() - started)
    sys.stdout.write(verdict_table([claim_record(r) for r in runs]) + "\n")
    sys.stdout.write(f"report: {report}\n")
    return 0


def _worker(claim_name: str, out: str, quick: bool, threads: int, verbose: bool) -> ClaimRun:
    torch.set_num_threads(threads)
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING,
                        format="%(asctime)s %(name)s %(levelname)s %(message)s")
    return run_claim(get_claim(claim_name), out, quick=quick)


def run_claims(claims: tuple[Claim, ...], out: str, quick: bool, threads: int, jobs: int,
               verbose: bool = False) -> list[ClaimRun]:
    """Run ``claims`` (in ``jobs`` processes when > 1) and return their results in the given order."""
    if jobs <= 1 or len(claims) <= 1:
        previous = torch.get_num_threads()
        torch.set_num_threads(threads)
        try:
            runs = []
            for claim in claims:
                runs.append(run_claim(claim, out, quick=quick))
                sys.stderr.write(f"{claim.name}: {runs[-1].result.verdict} ({runs[-1].seconds:.0f} s)\n")
            return runs
        finally:
            torch.set_num_threads(previous)
    done: dict[str, ClaimRun] = {}
    with ProcessPoolExecutor(max_workers=jobs, mp_context=multiprocessing.get_context("spawn")) as pool:
        largest_first = sorted(claims, key=lambda claim: -len(claim.arms))  # a rough cost order for the pool
        futures = {pool.submit(_worker, claim.name, out, quick, threads, verbose): claim.name
                   for claim in largest_first}
        for future in as_completed(futures):
            run = future.result()
            done[futures[future]] = run
            sys.stderr.write(f"{run.claim.name}: {run.result.verdict} ({run.seconds:.0f} s)\n")
    return [done[claim.name] for claim in claims]


if __name__ == "__main__":
    raise SystemExit(main())
