"""Measure the bounce classifier on Sisimai's corpus of real bounces (589 messages, 77 formats).

    .venv/bin/python bench/bounce_corpus.py [CORPUS_DIR] [--misses]

CORPUS_DIR (default ../shared/data/bounces/sisimai) holds eml/, not_bounce/ and
expected_results.csv (one row per file and bounce index: reason, hardbounce...). For each row it
compares what outreach.tracking.classify finds with what Sisimai found:

- bounce or not: Sisimai's `feedback` (ARF), `vacation` (RFC 3834 auto-replies) and `delivered`
  (success notices) rows, and the files of not_bounce/, are not bounces; every other row is;
- hard or soft (Sisimai's hardbounce), for the rows that are bounces;
- the reason (userunknown, mailboxfull...), for the rows that are bounces.

A file with several rows is compared with our failures as multisets (Sisimai's rows name no
address and its order of recipients is not always ours), the last failure repeated when we found
fewer. It prints the three shares and a table of the misses by family (the file
name without its number); --misses lists every missed row.
"""

from __future__ import annotations

import argparse
import csv
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from outreach.tracking.classify import classify_bytes  # noqa: E402
from outreach.tracking.models import InboundKind  # noqa: E402

NOT_BOUNCE_REASONS = {"feedback", "vacation", "delivered"}
BOUNCE_KINDS = {InboundKind.HARD_BOUNCE, InboundKind.SOFT_BOUNCE, InboundKind.DELAY}


def family(name: str) -> str:
    return name.rsplit("-", 1)[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "corpus", nargs="?", type=Path, default=ROOT.parent / "shared/data/bounces/sisimai"
    )
    parser.add_argument("--misses", action="store_true", help="list every missed row")
    args = parser.parse_args()
    rows = list(csv.DictReader((args.corpus / "expected_results.csv").open()))
    by_file: dict[str, list[dict[str, str]]] = defaultdict(list)
    for row in rows:
        by_file[row["file"]].append(row)
    for path in sorted((args.corpus / "not_bounce").glob("*.eml")):
        by_file[f"not_bounce/{path.name}"].append(
            {"file": path.name, "reason": "not_bounce", "hardbounce": "False"}
        )

    totals = Counter()
    misses: dict[str, Counter[str]] = defaultdict(Counter)
    listed: list[str] = []
    started = time.perf_counter()
    for name, expected_rows in sorted(by_file.items()):
        path = args.corpus / name if name.startswith("not_bounce/") else args.corpus / "eml" / name
        result = classify_bytes(path.read_bytes())
        failures = result.bounce.failures
        found_bounce = result.kind in BOUNCE_KINDS
        # Sisimai's rows carry no address, and its order of recipients is not always ours: the
        # rows of a file are paired with our failures as multisets (hard/soft, then reason).
        found_hard = Counter(f.hard for f in failures)
        found_reason = Counter(f.reason for f in failures)
        if failures and len(failures) < len(expected_rows):
            # Fewer failures than rows: the last one stands for the rest, as Sisimai repeats.
            found_hard[failures[-1].hard] += len(expected_rows) - len(failures)
            found_reason[failures[-1].reason] += len(expected_rows) - len(failures)
        for i, row in enumerate(sorted(expected_rows, key=lambda r: int(r.get("index") or 1))):
            expected_bounce = row["reason"] not in NOT_BOUNCE_REASONS | {"not_bounce"}
            totals["rows"] += 1
            ok = expected_bounce == found_bounce
            totals["bounce_ok"] += ok
            if not ok:
                misses[family(name)]["bounce?"] += 1
                listed.append(
                    f"{name}#{i + 1}: expected {row['reason']}, found {result.kind} ({result.detected_by})"
                )
            if not (expected_bounce and found_bounce and failures):
                continue
            totals["bounces"] += 1
            expected_hard = row["hardbounce"] == "True"
            if found_hard[expected_hard] > 0:
                found_hard[expected_hard] -= 1
                totals["hard_ok"] += 1
            else:
                failure = failures[min(i, len(failures) - 1)]
                misses[family(name)]["hard/soft"] += 1
                listed.append(
                    f"{name}#{i + 1}: expected {row['reason']} hard={expected_hard}, found {failure.reason} hard={failure.hard} [{failure.status}] {failure.diagnostic[:120]!r}"
                )
            if found_reason[row["reason"]] > 0:
                found_reason[row["reason"]] -= 1
                totals["reason_ok"] += 1
            else:
                misses[family(name)]["reason"] += 1
    elapsed = time.perf_counter() - started
    expected_bounces = sum(
        1
        for rs in by_file.values()
        for r in rs
        if r["reason"] not in NOT_BOUNCE_REASONS | {"not_bounce"}
    )
    print(f"corpus: {args.corpus} ({len(by_file)} files, {totals['rows']} rows, {elapsed:.1f} s)")
    print(
        f"bounce vs not bounce: {totals['bounce_ok']}/{totals['rows']} = {totals['bounce_ok'] / totals['rows']:.1%}"
    )
    print(
        f"hard vs soft:         {totals['hard_ok']}/{expected_bounces} = {totals['hard_ok'] / expected_bounces:.1%} (of every expected bounce; {totals['bounces']} found as bounces)"
    )
    print(
        f"reason agrees:        {totals['reason_ok']}/{expected_bounces} = {totals['reason_ok'] / expected_bounces:.1%}"
    )
    print()
    print(f"{'family':28} {'bounce?':>8} {'hard/soft':>10} {'reason':>8}")
    for fam, counter in sorted(misses.items(), key=lambda kv: -sum(kv[1].values())):
        print(f"{fam:28} {counter['bounce?']:>8} {counter['hard/soft']:>10} {counter['reason']:>8}")
    if args.misses:
        print()
        print("\n".join(listed))


if __name__ == "__main__":
    main()
