"""How the modules of ``actions/`` depend on each other.

An action module (one that defines actions the server registers) takes what it shares
with others from helper modules (``actions/conversation.py`` for the conversation,
``desk_api``, ``labels``, ``parsing``...), never from another action module, and no
module imports one of the package's own inside a function to get round an import circle
(heavy libraries such as jieba or scikit-learn are still loaded on first use).
"""

from __future__ import annotations

import ast
import importlib
import inspect
from pathlib import Path

from rasa_sdk import Action

import actions

PACKAGE = Path(actions.__file__).parent


def _modules() -> dict[str, ast.Module]:
    return {
        f"actions.{path.stem}": ast.parse(path.read_text(encoding="utf-8"))
        for path in sorted(PACKAGE.glob("*.py"))
        if path.stem != "__init__"
    }


def _action_modules() -> set[str]:
    """Modules that define at least one concrete action (rasa-sdk registers those)."""
    found = set()
    for name in _modules():
        module = importlib.import_module(name)
        for _, cls in inspect.getmembers(module, inspect.isclass):
            if cls.__module__ == name and issubclass(cls, Action) and not inspect.isabstract(cls):
                found.add(name)
    return found


def _imported(tree: ast.AST) -> set[str]:
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return names


def test_the_action_modules_are_found() -> None:
    # The check below means something only if it sees the modules it is about.
    assert {
        "actions.tickets",
        "actions.handoff",
        "actions.self_service",
        "actions.relay_to_agent",
    } <= _action_modules()
    assert "actions.conversation" not in _action_modules()


def test_no_action_module_imports_another() -> None:
    action_modules = _action_modules()
    offences = {
        name: sorted(_imported(tree) & action_modules)
        for name, tree in _modules().items()
        if _imported(tree) & action_modules
    }
    assert offences == {}


def test_no_module_of_the_package_is_imported_inside_a_function() -> None:
    inside = []
    for name, tree in _modules().items():
        for function in ast.walk(tree):
            if not isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            own = {m for m in _imported(function) if m == "actions" or m.startswith("actions.")}
            inside.extend(f"{name}.{function.name}: {module}" for module in sorted(own))
    assert inside == []
