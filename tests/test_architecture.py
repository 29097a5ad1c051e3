"""The house keeps its shape: portal -> kb -> search, checked on the source."""
from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

FORBIDDEN = {
    "search": {"flask", "sqlalchemy", "kb", "portal", "werkzeug"},
    "kb": {"flask", "portal"},
}


def imported_roots(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    roots = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            roots.add(node.module.split(".")[0])
    return roots


def test_layers_import_only_downwards():
    violations = []
    for package, forbidden in FORBIDDEN.items():
        for path in (ROOT / package).rglob("*.py"):
            bad = {r for r in imported_roots(path) if r in forbidden or r.startswith("flask_")}
            if bad:
                violations.append(f"{path.relative_to(ROOT)} imports {sorted(bad)}")
    assert not violations, "\n".join(violations)


def test_nothing_imports_portal_but_wsgi_and_tests():
    offenders = []
    for path in ROOT.rglob("*.py"):
        rel = path.relative_to(ROOT)
        if rel.parts[0] in {"portal", "tests", ".venv", "migrations", "bench"} or rel.name == "wsgi.py":
            continue
        if "portal" in imported_roots(path):
            offenders.append(str(rel))
    assert not offenders, offenders


def test_checker_sees_a_violation(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("from flask import Flask\nimport sqlalchemy.orm\n")
    assert {"flask", "sqlalchemy"} <= imported_roots(bad)
