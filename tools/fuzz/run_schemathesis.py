#!/usr/bin/env python3
"""Fuzz both services against their own OpenAPI schemas with schemathesis: `make fuzz`.

Starts the real system with tools/launcher/run_local.py the way the end-to-end suite does (free
ports, temporary var dirs, fresh PostgreSQL databases when ORDERS_DATABASE_URL /
PAYMENTS_DATABASE_URL are set), then runs `st run` against each service's served /schema with every
check: no 5xx, every status, header, content type and body as documented, invalid input refused and
valid input accepted. Bounded by --max-examples per operation and a fixed seed, so a run takes a few
minutes and a failure reproduces (FUZZ_EXAMPLES and FUZZ_SEED change both). Exits non-zero if any
check failed for either service. The HTTP server's own answers (400 and 431 with an empty body,
documented in the schema) are counted and reported with the check failures they caused, which are
set aside from the verdict: see schemathesis_hooks.py. The test payment methods are off, as in
production (they answer 503 and stall on purpose).

A script, not a pytest module: pytest never collects it (see tests/e2e for the suites).
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tools"))
# The stack the end-to-end suite runs: the same ports, databases and readiness wait.
from live_stack import StackError, live_stack  # noqa: E402

TOKEN = "fuzz-payments-token"
SCHEMATHESIS = Path(sys.executable).with_name("st")
HOOKS = Path(__file__).resolve().with_name("schemathesis_hooks.py")


def log(message: str) -> None:
    print(f"[fuzz] {message}", file=sys.stderr, flush=True)


def schemathesis(name: str, base_url: str, args: argparse.Namespace, workdir: Path) -> int:
    command = [
        str(SCHEMATHESIS),
        "run",
        f"{base_url}/schema",
        "--url",
        base_url,
        "--checks",
        "all",
        "--max-examples",
        str(args.max_examples),
        "--seed",
        str(args.seed),
        "--workers",
        "1",
        "--request-timeout",
        "10",
        "--generation-database",
        "none",
        "--no-color",
        "--report",
        "junit,ndjson",
        "--report-junit-path",
        str(args.report_dir / f"{name}.junit.xml"),
        "--report-ndjson-path",
        str(args.report_dir / f"{name}.ndjson"),
    ]
    if name == "payments":
        command += ["--header", f"Authorization: Bearer {TOKEN}"]
    log(f"{name}: {' '.join(command)}")
    server_answers = args.report_dir / f"{name}.server-answers.ndjson"
    server_answers.unlink(missing_ok=True)
    env = {
        **os.environ,
        "PYTHONPATH": str(HOOKS.parent),
        "SCHEMATHESIS_HOOKS": HOOKS.stem,
        "FUZZ_SERVER_ANSWERS_FILE": str(server_answers),
    }
    code = subprocess.run(command, cwd=workdir, env=env, check=False).returncode
    print_check_counts(name, args.report_dir / f"{name}.ndjson")
    print_server_answers(name, server_answers)
    return code


def print_server_answers(name: str, path: Path) -> None:
    """The HTTP server's own answers, expected and documented: how many, and the failures set
    aside."""
    records = [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []
    answers = Counter(r["status"] for r in records if r["kind"] == "answer")
    failures = Counter(
        (r["status"], r["operation"], r["title"]) for r in records if r["kind"] == "failure"
    )
    total = sum(answers.values())
    detail = ", ".join(f"{n} x {status}" for status, n in sorted(answers.items())) or "none"
    print(
        f"\n{name}: {total} answers by the HTTP server itself (documented): {detail}",
        file=sys.stderr,
    )
    for (status, operation, title), n in sorted(failures.items()):
        print(f"  set aside: {n} x {title!r} on {operation} ({status})", file=sys.stderr)


def print_check_counts(name: str, events_path: Path) -> None:
    """How many responses each check judged, and how: schemathesis' summary only lists failures."""
    if not events_path.exists():
        return
    counts: dict[str, Counter] = {}
    for line in events_path.read_text().splitlines():
        scenario = json.loads(line).get("ScenarioFinished")
        for results in (scenario or {}).get("recorder", {}).get("checks", {}).values():
            for result in results:
                counts.setdefault(result["name"], Counter())[result["status"]] += 1
    print(f"\n{name}: responses judged by each check", file=sys.stderr)
    for check, by_status in sorted(counts.items()):
        detail = ", ".join(f"{n} {status}" for status, n in sorted(by_status.items()))
        print(f"  {check:<30} {detail}", file=sys.stderr)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--max-examples", type=int, default=int(os.environ.get("FUZZ_EXAMPLES", 100))
    )
    parser.add_argument("--seed", type=int, default=int(os.environ.get("FUZZ_SEED", 20240601)))
    parser.add_argument("--report-dir", type=Path, default=ROOT / "artifacts" / "fuzz")
    parser.add_argument("--service", choices=["orders", "payments"], action="append")
    args = parser.parse_args()
    args.report_dir = args.report_dir.resolve()
    args.report_dir.mkdir(parents=True, exist_ok=True)

    results = {}
    with tempfile.TemporaryDirectory(prefix="fuzz-") as tmp:
        try:
            # The test methods fail (503) and stall (past Orders' read timeout) on purpose: a
            # fuzzer that picks them from the enum would report what they are for. Off, as in
            # production; both services read the same switch, so their enums still agree.
            with live_stack(
                Path(tmp), PAYMENTS_API_TOKEN=TOKEN, PAYMENTS_TEST_METHODS="false"
            ) as stack:
                urls = {"orders": stack.orders_url, "payments": stack.payments_url}
                for name in args.service or ["orders", "payments"]:
                    results[name] = schemathesis(name, urls[name], args, Path(tmp))
        except StackError as exc:
            log(str(exc))
            return 1
        # A process that died during the run (a worker crash) shows in the launcher's exit code.
        if any(results.values()) or stack.exit_code or not results:
            text = stack.log_path.read_text()
            log(f"the stack's log has {text.count('Traceback')} tracebacks; its end:")
            print(text[-4000:], file=sys.stderr)

    for name, code in results.items():
        log(f"{name}: {'passed' if code == 0 else f'FAILED (schemathesis exited {code})'}")
    if stack.exit_code:
        log(f"FAILED: the launcher stopped with {stack.exit_code}")
    log(f"reports (JUnit, NDJSON events) in {args.report_dir}")
    return 0 if results and not any(results.values()) and not stack.exit_code else 1


if __name__ == "__main__":
    sys.exit(main())
