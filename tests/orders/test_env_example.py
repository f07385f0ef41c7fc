"""`.env.example` lists every setting that the code reads from the environment.

The names are found in the code itself (each call of an env reader or `os.environ.get` with a
literal name), so a new setting that is not added there fails this test.
"""

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SOURCES = ["orders_project", "payments_project", "servicekit", "docker"]
# env_str(...), env.int(...) (django-environ), os.environ.get(...); not env.setdefault/pop.
READER = re.compile(r"^(env|env_\w+|env\.(?!setdefault|pop)\w+|os\.environ\.get|os\.getenv)$")


def names_read_from_environment() -> set[str]:
    names = set()
    for directory in SOURCES:
        for path in (ROOT / directory).rglob("*.py"):
            if "migrations" in path.parts or "tests" in path.relative_to(ROOT).parts:
                continue
            for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
                if not (isinstance(node, ast.Call) and node.args):
                    continue
                first = node.args[0]
                if not (isinstance(first, ast.Constant) and isinstance(first.value, str)):
                    continue
                if READER.match(ast.unparse(node.func)) and first.value.isupper():
                    names.add(first.value)
    return names


def names_in_env_example() -> set[str]:
    text = (ROOT / ".env.example").read_text()
    return set(re.findall(r"^# ([A-Z][A-Z0-9_]+)=", text, flags=re.MULTILINE))


def test_env_example_lists_every_setting_the_code_reads():
    read = names_read_from_environment()
    assert {"ORDERS_PAGE_SIZE", "PAYMENTS_PAGE_SIZE", "WEB_WORKERS"} <= read  # the scan works
    missing = read - names_in_env_example()
    assert not missing, f"add these to .env.example (and docs/settings.md): {sorted(missing)}"
