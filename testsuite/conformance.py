#!/usr/bin/env python3
"""Run `nnc test` over the generated ONNX node tests and report pass rates.

Usage:
  conformance.py --nnc PATH --cases OUT_DIR [--engine eval] [--form strict|aot|both]
                 [--milestone shared/conformance/milestone1_cases.txt]
                 [--ratchet testsuite/ratchet.json] [--update-ratchet]
                 [--jobs N] [--json RESULT.json] [--filter REGEX]

OUT_DIR is what gen_node_tests.py wrote (OUT_DIR/index.json, OUT_DIR/{strict,aot}/).
The case folders are handed to `nnc test CASE_DIR... --engine ENGINE --rtol R --atol A`
in batches of about 100 (batches run in parallel, --jobs). nnc prints one line per
case, `PASS <dir> ...`, `FAIL <dir> <worst error or message>` or `SKIP <dir> <why
unsupported>`, then `N passed, N failed[, N skipped]`. A case for which nnc printed
no line (crash, abort) counts as failed, "no result (crash?)". A batch that times out
is re-run case by case, each with its own shorter timeout; a timed-out case fails.

For each form it prints pass rates over all cases, the float32-only cases, the
float32 cases with int64 operands (comparable to the conformance README's 1,127) and
the milestone cases, then a compact table of failing/skipped cases grouped by op.

Ratchet: the ratchet file records, per "engine/form/subset" key, the minimum number
of passing cases. A count below its recorded minimum is a regression: it is printed
and the exit code is 1. --update-ratchet raises the recorded numbers to the current
ones (never lowers them) and adds missing keys. The ratchet is neither checked nor
updated when --filter selects a subset of the cases.

Exit codes: 0 no regression, 1 ratchet regression, 2 bad usage / missing files.
The last lines, one per form, read `conformance (ENGINE, FORM): N passed, N failed,
N skipped` (deliberately not the bare `N passed, N failed` line of a test runner).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor

BATCH = 100
BATCH_TIMEOUT = 600.0
CASE_TIMEOUT = 60.0
LINE_RE = re.compile(r"^(PASS|FAIL|SKIP)\s+(\S+)(?:\s+(.*))?$")
SUMMARY_RE = re.compile(r"^(\d+) passed, (\d+) failed(?:, (\d+) skipped)?$")
NO_RESULT = "no result (crash?)"


def parse_output(stdout: str, case_dirs: list[str]) -> tuple[dict, tuple | None]:
    """Map each case dir to (status, detail) from nnc's output lines.

    Returns (results, summary) where results only holds the cases nnc reported and
    summary is the (passed, failed, skipped) of its closing line, if any.
    """
    by_key: dict[str, str] = {}
    for d in case_dirs:
        by_key[d] = d
        by_key[os.path.normpath(d)] = d
        by_key[os.path.abspath(d)] = d
    by_base: dict[str, str] = {}
    for d in case_dirs:
        by_base.setdefault(os.path.basename(os.path.normpath(d)), d)
    results: dict[str, tuple[str, str]] = {}
    summary = None
    for raw in stdout.splitlines():
        line = raw.strip()
        m = LINE_RE.match(line)
        if m:
            status, path, detail = m.group(1), m.group(2), (m.group(3) or "").strip()
            path = path.rstrip(":")
            d = (
                by_key.get(path)
                or by_key.get(os.path.normpath(path))
                or by_base.get(os.path.basename(os.path.normpath(path)))
            )
            if d is not None and d not in results:
                results[d] = (status, detail)
            continue
        m = SUMMARY_RE.match(line)
        if m:
            summary = (int(m.group(1)), int(m.group(2)), int(m.group(3) or 0))
    return results, summary


def tail(text: str, n: int = 3) -> str:
    lines = [l for l in text.strip().splitlines() if l.strip()]
    return " | ".join(lines[-n:])[:300]


def run_nnc(cmd: list[str], timeout: float):
    try:
        p = subprocess.run(
            cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout,
            text=True, errors="replace", stdin=subprocess.DEVNULL,
        )
        return p.returncode, p.stdout, p.stderr, False
    except subprocess.TimeoutExpired as e:
        def dec(b):
            return b.decode(errors="replace") if isinstance(b, bytes) else (b or "")
        return None, dec(e.stdout), dec(e.stderr), True


def run_one(base: list[str], opts: list[str], d: str, timeout: float) -> tuple[str, str]:
    rc, out, err, timed_out = run_nnc(base + [d] + opts, timeout)
    if timed_out:
        return ("FAIL", f"timeout ({timeout:g} s)")
    r, _ = parse_output(out, [d])
    return r.get(d) or ("FAIL", no_result(rc, err))


def run_batch(nnc: str, engine: str, target: str | None, tol: tuple[float, float],
              dirs: list[str], batch_timeout: float, case_timeout: float,
              cpu: str | None = None) -> dict:
    rtol, atol = tol
    base = [nnc, "test"]
    opts = ["--engine", engine, "--rtol", repr(rtol), "--atol", repr(atol)]
    if target:
        opts += ["--target", target]
    if cpu:
        opts += ["--cpu", cpu]
    rc, out, err, timed_out = run_nnc(base + dirs + opts, batch_timeout)
    if timed_out:
        # Re-run every case of the batch on its own, each with its own timeout.
        return {d: run_one(base, opts, d, case_timeout) for d in dirs}
    results, _summary = parse_output(out, dirs)
    missing = [d for d in dirs if d not in results]
    if rc == 2 and not results:
        # nnc refused its command line: re-running case by case would not help.
        why = f"nnc usage error (exit 2): {tail(err, 2)}"
        return {d: ("FAIL", why) for d in dirs}
    if missing and len(dirs) > 1:
        # The process died (or skipped a line) part-way: re-run the cases it did not
        # report one by one, so that one crashing case does not fail its batch-mates.
        for d in missing:
            results[d] = run_one(base, opts, d, case_timeout)
    elif missing:
        results[missing[0]] = ("FAIL", no_result(rc, err))
    return results


def no_result(rc, err: str) -> str:
    s = NO_RESULT
    if rc is not None:
        s += f" exit {rc}" if rc >= 0 else f" signal {-rc}"
    t = tail(err, 2)
    return s + (f": {t}" if t else "")


def load_index(cases_dir: str) -> list[dict]:
    path = os.path.join(cases_dir, "index.json")
    if not os.path.exists(path):
        sys.exit(f"error: {path} not found (run testsuite/gen_node_tests.py {cases_dir})")
    with open(path) as f:
        return json.load(f)


def op_key(rec: dict | None) -> str:
    if rec is None:
        return "?"
    ops = rec.get("ops") or []
    if len(ops) == 1:
        return ops[0]
    return "(multi-op)" if ops else "(no op)"


def pct(a: int, b: int) -> str:
    return f"{100.0 * a / b:5.1f}%" if b else "  n/a "


def main() -> int:
    ap = argparse.ArgumentParser(
        description="Run nnc over the ONNX node tests and report pass rates.")
    ap.add_argument("--nnc", required=True, help="path to the nnc binary")
    ap.add_argument("--cases", required=True, help="OUT_DIR of gen_node_tests.py")
    ap.add_argument("--engine", default="eval")
    ap.add_argument("--target", help="nnc's --target for the native engine (default: host); "
                    "results and ratchet keys are labelled ENGINE@TARGET")
    ap.add_argument("--cpu", help="nnc's --cpu features (e.g. avx512f); labels become "
                    "ENGINE@TARGET+CPU")
    ap.add_argument("--form", choices=["strict", "aot", "both"], default="both")
    ap.add_argument("--milestone", help="file listing milestone case names, one a line")
    ap.add_argument("--ratchet", help="ratchet JSON file (minimum pass counts)")
    ap.add_argument("--update-ratchet", action="store_true")
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--json", help="write every case's result to this JSON file")
    ap.add_argument("--filter", help="only cases whose name matches this regex")
    ap.add_argument("--batch", type=int, default=BATCH, help="cases per nnc run")
    ap.add_argument("--batch-timeout", type=float, default=BATCH_TIMEOUT)
    ap.add_argument("--case-timeout", type=float, default=CASE_TIMEOUT)
    ap.add_argument("--table-rows", type=int, default=40,
                    help="max ops listed in the failure table (0: all)")
    a = ap.parse_args()
    label = f"{a.engine}@{a.target}" if a.target else a.engine
    if a.cpu:
        label += f"+{a.cpu}"
    if a.update_ratchet and not a.ratchet:
        ap.error("--update-ratchet needs --ratchet")

    nnc = a.nnc
    if not (os.path.isfile(nnc) or shutil.which(nnc)):
        print(f"error: nnc binary {nnc} not found", file=sys.stderr)
        return 2
    index = load_index(a.cases)
    rec_by_name = {r["name"]: r for r in index}
    names = [r["name"] for r in index]
    if a.filter:
        rx = re.compile(a.filter)
        names = [n for n in names if rx.search(n)]

    milestone: list[str] | None = None
    if a.milestone:
        with open(a.milestone) as f:
            milestone = [l.strip() for l in f if l.strip() and not l.startswith("#")]
        absent = [m for m in milestone if m not in rec_by_name]
        if absent:
            print(f"note: {len(absent)} milestone cases are not in {a.cases}: "
                  f"{', '.join(absent[:10])}{' ...' if len(absent) > 10 else ''}")

    forms = ["strict", "aot"] if a.form == "both" else [a.form]
    all_results: dict[str, dict[str, dict]] = {}
    counts: dict[str, int] = {}
    closing: list[str] = []
    t0 = time.time()

    for form in forms:
        form_dir = os.path.join(a.cases, form)
        case_names = [n for n in names if os.path.isdir(os.path.join(form_dir, n))]
        lost = len(names) - len(case_names)
        if lost:
            print(f"note: {lost} indexed cases have no folder in {form_dir}")
        # Batches, grouped by tolerance so one nnc run gets one --rtol/--atol.
        by_tol: dict[tuple, list[str]] = defaultdict(list)
        for n in case_names:
            r = rec_by_name[n]
            by_tol[(r.get("rtol", 1e-3), r.get("atol", 1e-7))].append(n)
        batches = []
        for tol, ns in sorted(by_tol.items()):
            for i in range(0, len(ns), max(1, a.batch)):
                batches.append((tol, [os.path.join(form_dir, n) for n in ns[i:i + a.batch]]))
        results: dict[str, tuple[str, str]] = {}
        with ThreadPoolExecutor(max_workers=max(1, a.jobs)) as ex:
            futs = [ex.submit(run_batch, nnc, a.engine, a.target, tol, dirs,
                              a.batch_timeout, a.case_timeout, a.cpu) for tol, dirs in batches]
            for fut in futs:
                for d, res in fut.result().items():
                    results[os.path.basename(d)] = res
        form_res = {n: {"status": results[n][0], "detail": results[n][1]}
                    for n in case_names}
        all_results[form] = form_res

        # ---- pass rates
        subsets = [
            ("all", case_names),
            ("float32", [n for n in case_names if rec_by_name[n].get("float32_only")]),
            ("float32+int64", [n for n in case_names if rec_by_name[n].get("float32_data")]),
        ]
        if milestone is not None:
            ms = set(milestone)
            subsets.append(("milestone", [n for n in case_names if n in ms]))
        print(f"== {label} / {form}: {len(case_names)} cases "
              f"({time.time() - t0:.0f} s elapsed)")
        for sub, ns in subsets:
            p = sum(1 for n in ns if form_res[n]["status"] == "PASS")
            f = sum(1 for n in ns if form_res[n]["status"] == "FAIL")
            s = sum(1 for n in ns if form_res[n]["status"] == "SKIP")
            counts[f"{label}/{form}/{sub}"] = p
            print(f"  {sub:14s} {p:5d}/{len(ns):<5d} {pct(p, len(ns))} passed"
                  f"  ({f} failed, {s} skipped)")

        # ---- failures / skips grouped by op
        groups: dict[str, dict] = defaultdict(lambda: {"FAIL": [], "SKIP": []})
        for n in case_names:
            st = form_res[n]["status"]
            if st != "PASS":
                groups[op_key(rec_by_name.get(n))][st].append(n)
        if groups:
            rows = sorted(groups.items(),
                          key=lambda kv: (-(len(kv[1]["FAIL"]) + len(kv[1]["SKIP"])), kv[0]))
            shown = rows if a.table_rows <= 0 else rows[:a.table_rows]
            print(f"  not passing, by op ({len(rows)} ops):  op  fail skip  examples")
            for op, g in shown:
                ex_names = (g["FAIL"] + g["SKIP"])[:3]
                first = g["FAIL"][0] if g["FAIL"] else g["SKIP"][0]
                why = form_res[first]["detail"][:70]
                line = (f"    {op:24s} {len(g['FAIL']):4d} {len(g['SKIP']):4d}  "
                        f"{' '.join(x[5:] if x.startswith('test_') else x for x in ex_names)}"
                        f"{'  -- ' + why if why else ''}")
                print(line if len(line) <= 220 else line[:217] + "...")
            if len(shown) < len(rows):
                rest = rows[len(shown):]
                k = sum(len(g["FAIL"]) + len(g["SKIP"]) for _, g in rest)
                print(f"    ... {len(rest)} more ops ({k} cases); --table-rows 0 shows all")
        tp = sum(1 for v in form_res.values() if v["status"] == "PASS")
        tf = sum(1 for v in form_res.values() if v["status"] == "FAIL")
        ts = sum(1 for v in form_res.values() if v["status"] == "SKIP")
        closing.append(f"conformance ({label}, {form}): {tp} passed, {tf} failed, "
                       f"{ts} skipped")

    if a.json:
        with open(a.json, "w") as f:
            json.dump({"engine": label, "cases": os.path.abspath(a.cases),
                       "counts": counts, "results": all_results}, f, indent=1,
                      sort_keys=True)
            f.write("\n")

    rc = 0
    if a.ratchet and a.filter:
        print("ratchet: not checked (--filter given)")
    elif a.ratchet:
        ratchet = {}
        if os.path.exists(a.ratchet):
            with open(a.ratchet) as f:
                ratchet = json.load(f)
        regressions = [(k, v, ratchet[k]) for k, v in sorted(counts.items())
                       if k in ratchet and v < ratchet[k]]
        new_keys = [k for k in sorted(counts) if k not in ratchet]
        raised = [(k, ratchet[k], v) for k, v in sorted(counts.items())
                  if k in ratchet and v > ratchet[k]]
        for k, v, m in regressions:
            print(f"ratchet REGRESSION: {k}: {v} passed < recorded minimum {m}")
        for k in new_keys:
            print(f"ratchet: {k}: {counts[k]} passed (no recorded minimum)")
        for k, old, v in raised:
            print(f"ratchet: {k}: {v} passed > recorded {old}"
                  f"{'' if a.update_ratchet else ' (--update-ratchet to record)'}")
        if a.update_ratchet:
            new = dict(ratchet)
            for k, v in counts.items():
                new[k] = max(v, ratchet.get(k, 0))
            if new != ratchet:
                with open(a.ratchet, "w") as f:
                    json.dump(new, f, indent=2, sort_keys=True)
                    f.write("\n")
                print(f"ratchet: updated {a.ratchet}")
        if regressions:
            rc = 1
        else:
            print("ratchet: ok (no count below its recorded minimum)")

    for line in closing:
        print(line)
    return rc


if __name__ == "__main__":
    sys.exit(main())
