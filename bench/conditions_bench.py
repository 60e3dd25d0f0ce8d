"""Time monitor conditions: the `cel` package (Rust core) against cel-python, side by side.

Not a test. Run from the repository root with the project's virtualenv:

    python3 -m venv /tmp/celpy && /tmp/celpy/bin/pip install cel-python    # once; never into the project
    .venv/bin/python bench/conditions_bench.py [--celpy-python /tmp/celpy/bin/python]

Both libraries run the same CEL text (the condition as blockhook rewrites it: amounts as 32-byte
bytes) over the same event, converted per evaluation into each library's values, as the worker
would. cel-python runs in its own interpreter, fed by this script through stdin.
Writes bench/results/conditions.json.
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import timeit
from importlib.metadata import version
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "layers" / "shared" / "python"))

import cel  # noqa: E402

from blockhook.matching.conditions import compile_condition  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "conditions.json"
HASH = "0x" + "ee" * 32
ADDRESSES = ["0x" + f"{n:02x}" * 20 for n in range(1, 11)]
NATIVE = {
    "id": f"1:{HASH}:3:tx:native_transfer", "kind": "native_transfer", "chain_id": 1,
    "block_number": 21_000_000, "block_hash": HASH, "block_timestamp": 1_730_000_000, "tx_hash": HASH,
    "tx_index": 3, "log_index": None, "from": ADDRESSES[0], "to": ADDRESSES[9], "value": str(10**21 + 1),
}
TRANSACTION = {
    **NATIVE, "id": f"1:{HASH}:3:tx:transaction", "kind": "transaction", "selector": "0xa9059cbb",
    "status": 1, "gas_used": 52_000, "contract_address": None,
}
CASES = [
    ("two clauses", f'event.value >= 1000000000000000000000 && event.to == "{ADDRESSES[9]}"', NATIVE),
    ("one amount comparison", "event.value > 5", NATIVE),
    ("address in a list of 10", f"event.to in {json.dumps(ADDRESSES)}", NATIVE),
    ("three clauses, transaction", "event.value > 0 && event.status == 1 && event.gas_used < 100000", TRANSACTION),
    ("whole event (size(event))", "size(event) > 0 && event.value > 5", TRANSACTION),
]

# Runs under cel-python's interpreter: reads the cases as JSON, answers timings as JSON.
CELPY_CHILD = r'''
import json, sys, timeit
from importlib.metadata import version
import celpy
from celpy import celtypes

def to_cel(value):
    if isinstance(value, dict) and set(value) == {"__bytes__"}:
        return celtypes.BytesType(bytes.fromhex(value["__bytes__"]))
    if isinstance(value, dict):
        return celtypes.MapType({celtypes.StringType(k): to_cel(v) for k, v in value.items()})
    if isinstance(value, list):
        return celtypes.ListType([to_cel(v) for v in value])
    if isinstance(value, bool):
        return celtypes.BoolType(value)
    if isinstance(value, int):
        return celtypes.IntType(value)
    if isinstance(value, str):
        return celtypes.StringType(value)
    return value  # None

spec = json.load(sys.stdin)
env = celpy.Environment()
answers = []
for case in spec["cases"]:
    program = env.program(env.compile(case["cel_source"]))
    event = case["cel_event"]
    run = lambda: program.evaluate({"event": to_cel(event)})
    activation = {"event": to_cel(event)}
    run_converted = lambda: program.evaluate(activation)
    result = bool(run())
    number = spec["celpy_number"]
    best = min(timeit.repeat(run, number=number, repeat=spec["repeat"])) / number
    converted = min(timeit.repeat(run_converted, number=number, repeat=spec["repeat"])) / number
    answers.append({"result": result, "us_per_eval": best * 1e6, "us_per_eval_preconverted": converted * 1e6})
print(json.dumps({"version": version("cel-python"), "cases": answers}))
'''


def best_us(function, number: int, repeat: int) -> float:
    return min(timeit.repeat(function, number=number, repeat=repeat)) / number * 1e6


def cel_view(condition, event: dict) -> dict:
    """The event as blockhook hands it to CEL for this condition (same conversion evaluate() does)."""
    return condition._cel_event(event)


def jsonable(value):
    if isinstance(value, bytes):
        return {"__bytes__": value.hex()}
    if isinstance(value, dict):
        return {k: jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [jsonable(v) for v in value]
    return value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--celpy-python", default="/tmp/celpy/bin/python")
    parser.add_argument("--number", type=int, default=50_000, help="evaluations per timing run (cel)")
    parser.add_argument("--celpy-number", type=int, default=2_000, help="evaluations per timing run (cel-python)")
    parser.add_argument("--repeat", type=int, default=5, help="timing runs; the best one counts")
    options = parser.parse_args()

    rows = []
    for name, source, event in CASES:
        condition = compile_condition(source)
        view = cel_view(condition, event)
        program = cel.compile(condition.cel_source)
        assert condition.evaluate(event) is True, condition.last_error
        rows.append({
            "case": name,
            "condition": source,
            "fields_handed_to_cel": len(view),
            "cel_execute_us": best_us(lambda p=program, v=view: p.execute({"event": v}), options.number,
                                      options.repeat),
            "blockhook_evaluate_us": best_us(lambda c=condition, e=event: c.evaluate(e), options.number,
                                             options.repeat),
            "compile_condition_us": best_us(lambda s=source: compile_condition(s), 200, options.repeat),
            "cel_source": condition.cel_source,
            "cel_event": jsonable(view),
        })

    if not Path(options.celpy_python).exists():
        sys.exit(f"{options.celpy_python} not found; create it: python3 -m venv /tmp/celpy && "
                 f"/tmp/celpy/bin/pip install cel-python")
    spec = {"cases": [{"cel_source": r["cel_source"], "cel_event": r["cel_event"]} for r in rows],
            "celpy_number": options.celpy_number, "repeat": options.repeat}
    child = subprocess.run([options.celpy_python, "-c", CELPY_CHILD], input=json.dumps(spec),
                           capture_output=True, text=True, check=True)
    celpy = json.loads(child.stdout)

    amount = NATIVE["value"]
    results = {
        "what": "µs per evaluation of one compiled condition over one event, best of "
                f"{options.repeat} runs; the event is converted into the library's values each time "
                "(cel: by Program.execute; cel-python: into celtypes), except in "
                "celpy_evaluate_preconverted_us; blockhook_evaluate_us is CompiledCondition.evaluate, "
                "from the event dict as the worker holds it",
        "machine": {"python": platform.python_version(), "platform": platform.platform(),
                    "processor": platform.processor() or platform.machine()},
        "libraries": {"cel": f"common-expression-language {version('common-expression-language')}",
                      "celpy": f"cel-python {celpy['version']} (throwaway venv, not a project dependency)"},
        "amount_to_bytes_us": best_us(lambda: int(amount).to_bytes(32, "big"), options.number, options.repeat),
        "cases": [],
    }
    for row, other in zip(rows, celpy["cases"], strict=True):
        assert other["result"] is True, f"cel-python disagrees on {row['case']}"
        results["cases"].append({
            "case": row["case"],
            "condition": row["condition"],
            "fields_handed_to_cel": row["fields_handed_to_cel"],
            "cel_execute_us": round(row["cel_execute_us"], 2),
            "blockhook_evaluate_us": round(row["blockhook_evaluate_us"], 2),
            "celpy_evaluate_us": round(other["us_per_eval"], 1),
            "celpy_evaluate_preconverted_us": round(other["us_per_eval_preconverted"], 1),
            "celpy_over_cel": round(other["us_per_eval"] / row["cel_execute_us"], 1),
            "celpy_over_blockhook_evaluate": round(other["us_per_eval"] / row["blockhook_evaluate_us"], 1),
            "compile_condition_us": round(row["compile_condition_us"], 1),
        })
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n")

    print(f"{'case':32} {'cel':>8} {'evaluate':>9} {'cel-python':>11} {'ratio':>6}  (µs per evaluation)")
    for case in results["cases"]:
        print(f"{case['case']:32} {case['cel_execute_us']:8.2f} {case['blockhook_evaluate_us']:9.2f} "
              f"{case['celpy_evaluate_us']:11.1f} {case['celpy_over_cel']:5.1f}x")
    print(f"wrote {RESULTS.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
