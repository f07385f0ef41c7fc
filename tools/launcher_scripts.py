"""The launcher's scripts (tools/launcher/) as modules, for the tests and the fault stack that
reuse their parts: they are run as scripts, not imported as a package, so they load by path."""

import importlib.util
from pathlib import Path
from types import ModuleType

LAUNCHER_DIR = Path(__file__).resolve().parent / "launcher"


def load_launcher_script(name: str) -> ModuleType:
    """tools/launcher/<name>.py, executed afresh as a module called `name`."""
    spec = importlib.util.spec_from_file_location(name, LAUNCHER_DIR / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
