"""The architecture holds: import-linter's contracts, imports at the top of modules, no side-effect imports.

README.md, Architecture, describes the layers and the one convention for an import inside a
function: the line says why, with a `# function-level: <reason>` comment (for example
`# function-level: weasyprint is slow to import and only the PDF export needs it`).
"""
import ast
import subprocess
import sys
from pathlib import Path

import pytest
from flask import Flask

from kil_network.core.personal_data import register_exporter, registry

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "kil_network"
FUNCTION_LEVEL = "# function-level:"


def _python_files():
    """Every module of the app, in a stable order."""
    return sorted(p for p in PACKAGE.rglob("*.py") if "__pycache__" not in p.parts)


def _function_level_imports(path: Path) -> list[str]:
    """`path:line: import` for each import inside a function whose lines carry no `# function-level:` reason."""
    source = path.read_text(encoding="utf-8")
    lines = source.splitlines()
    found = []

    def visit(node, in_function):
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.Import, ast.ImportFrom)) and in_function:
                statement = lines[child.lineno - 1:child.end_lineno]
                if not any(FUNCTION_LEVEL in line for line in statement):
                    found.append(f"{path.relative_to(ROOT)}:{child.lineno}: {statement[0].strip()}")
            visit(child, in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)))

    visit(ast.parse(source, filename=str(path)), False)
    return found


def test_import_contracts_hold():
    """`lint-imports` (the contracts in .importlinter: layers and independent areas) passes."""
    lint_imports = Path(sys.executable).with_name("lint-imports")
    result = subprocess.run([str(lint_imports), "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]


def test_function_level_imports_say_why():
    """An import inside a function is allowed only with a `# function-level: <reason>` comment on its line."""
    offenders = [hit for path in _python_files() for hit in _function_level_imports(path)]
    assert offenders == [], "Import at the top of the module, or say why on the line:\n" + "\n".join(offenders)


def test_the_scan_sees_function_level_imports(tmp_path):
    """The scan finds an import in a function or method, and accepts one whose line says why."""
    module = tmp_path / "example.py"
    module.write_text(
        "import os\n"
        "def f():\n"
        "    import json\n"
        "    from os import path  # function-level: shown to be accepted\n"
        "class C:\n"
        "    def m(self):\n"
        "        from collections import (\n"
        "            deque,\n"
        "        )\n",
        encoding="utf-8",
    )
    hits = [hit.split(": ", 1)[1] for hit in _function_level_imports_at(module, tmp_path)]
    assert hits == ["import json", "from collections import ("]


def _function_level_imports_at(path: Path, root: Path) -> list[str]:
    """_function_level_imports for a file outside the project (the relative path is taken from `root`)."""
    global ROOT
    saved, ROOT = ROOT, root
    try:
        return _function_level_imports(path)
    finally:
        ROOT = saved


def test_no_side_effect_imports():
    """No `# noqa: F401` import outside kil_network/models.py (which imports every model for Alembic)."""
    offenders = [
        f"{path.relative_to(ROOT)}:{number}: {line.strip()}"
        for path in _python_files() if path != PACKAGE / "models.py"
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if "noqa" in line and "F401" in line
    ]
    assert offenders == [], "Import what the module uses; register explicitly in the factory:\n" + "\n".join(offenders)


def test_every_personal_data_function_is_registered(app):
    """Each area's export_* and erase_* functions in personal_data.py are registered by the factory."""
    registered = registry(app)
    functions = {fn for _, fn in registered.exporters} | set(registered.erasers)
    missing = []
    for path in sorted(PACKAGE.glob("*/personal_data.py")):
        if path.parent.name == "core":
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        module = sys.modules[f"kil_network.{path.parent.name}.personal_data"]
        for node in tree.body:
            if (isinstance(node, ast.FunctionDef) and node.name.startswith(("export_", "erase_"))
                    and getattr(module, node.name) not in functions):
                missing.append(f"{path.relative_to(ROOT)}: {node.name}")
    assert missing == [], "Register these in kil_network/__init__.py, _register_personal_data:\n" + "\n".join(missing)
    assert len(registered.exporters) == len({section for section, _ in registered.exporters})


def test_a_personal_data_section_is_registered_once():
    """Registering a section name twice is refused (two areas would overwrite each other's export)."""
    bare = Flask("bare")
    register_exporter(bare, "profile", lambda user: {})
    with pytest.raises(ValueError, match="profile"):
        register_exporter(bare, "profile", lambda user: {})
    assert len(registry(bare).exporters) == 1
