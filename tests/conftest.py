"""Every suite under tests/. The Orders and Payments suites also run the shared contract
(tests/contract/): what both services promise, checked in each suite's own pytest process (one
Django project each) against the service its `service` fixture describes. The contract's test
modules are collected as part of tests/orders/ and tests/payments/, so that they take that
suite's fixtures (its conftest.py): a conftest's fixtures reach only the tests below its
directory. To run one contract test, select it in a suite: `... pytest ../tests/orders -k routes`.
"""

from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent
CONTRACT = TESTS / "contract"
SUITES_WITH_THE_CONTRACT = {"orders", "payments"}

# Collected only through the suites above: on its own, no fixture says which service it checks.
collect_ignore = ["contract"]


class SuiteWithTheContract(pytest.Directory):
    """A service's test directory: its own test modules, then the contract's."""

    def collect(self):
        modules = [*sorted(self.path.glob("test_*.py")), *sorted(CONTRACT.glob("test_*.py"))]
        for path in modules:
            yield from self.ihook.pytest_collect_file(file_path=path, parent=self)


def pytest_collect_directory(path: Path, parent: pytest.Collector) -> pytest.Collector | None:
    if path.parent == TESTS and path.name in SUITES_WITH_THE_CONTRACT:
        return SuiteWithTheContract.from_parent(parent, path=path)
    return None
