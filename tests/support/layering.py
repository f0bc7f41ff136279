"""The layering rule of the house: which top-level part may import which (docs/ARCHITECTURE.md).

``check(root)`` parses every ``.py`` file of the first-party parts under ``root`` and returns one
:class:`Violation` per forbidden import. Every import counts: module level, inside functions (lazy
imports), under ``if TYPE_CHECKING:``, and relative imports (resolved against the file's package).
Pure functions; used by ``tests/test_layering.py`` on the real tree and on deliberately wrong trees.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

# The first-party top-level parts (directories at the repository root).
PARTS = ("broker", "kafka_common", "connect", "connectors", "rest", "plugins", "headrace")


@dataclass(frozen=True)
class Rule:
    """What modules whose dotted name starts with ``owner`` may import.

    ``allowed``: first-party module prefixes it may import (a prefix matches itself and its
    submodules). ``stdlib_only``: no third-party imports either. ``own_subpackage``: a module may
    also import from its own ``<owner>.<subpackage>`` (a connector's own modules).
    """

    owner: str
    allowed: tuple[str, ...]
    why: str
    stdlib_only: bool = False
    own_subpackage: bool = False


# Most specific owner first: the first rule whose owner prefixes a module applies to it.
RULES: tuple[Rule, ...] = (
    Rule("connect.api", ("connect.api",), "the plugin contract imports only itself", stdlib_only=True),
    Rule("kafka_common", ("kafka_common",), "the neutral package imports neither broker nor runtime"),
    Rule("broker", ("broker", "kafka_common"), "the broker never imports connect/, rest/ or connectors/"),
    Rule(
        "connect",
        ("connect", "kafka_common"),
        "the runtime talks to brokers only through the Kafka protocol and never imports rest/",
    ),
    Rule(
        "connectors",
        ("connect.api",),
        "built-in connectors use the public plugin API only",
        own_subpackage=True,
    ),
    Rule("plugins", ("connect.api", "plugins"), "third-party plugins use the public plugin API only"),
    Rule(
        "rest",
        (
            "rest",
            "connect.runtime.herder",
            "connect.runtime.models",
            "connect.runtime.exceptions",
        ),
        "the REST API uses the Herder contract only",
    ),
    Rule("headrace", PARTS, "the composition root may import everything"),
)


@dataclass(frozen=True)
class Violation:
    path: str
    line: int
    module: str
    imported: str
    why: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.module} imports {self.imported} ({self.why})"


def module_name(root: Path, path: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def rule_for(module: str) -> Rule | None:
    for rule in RULES:
        if module == rule.owner or module.startswith(rule.owner + "."):
            return rule
    return None


def _imports(tree: ast.Module, module: str, is_package: bool) -> Iterator[tuple[int, str]]:
    package = module if is_package else module.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)] if node.level > 1 else base
                target = ".".join([*base, node.module] if node.module else base)
            else:
                target = node.module or ""
            if not node.module:  # "from . import x": each name may be a submodule
                for alias in node.names:
                    yield node.lineno, f"{target}.{alias.name}"
            else:
                yield node.lineno, target


def _matches(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


def check_file(root: Path, path: Path) -> list[Violation]:
    module = module_name(root, path)
    rule = rule_for(module)
    if rule is None:
        return []
    tree = ast.parse(path.read_text(), filename=str(path))
    out = []
    for line, imported in _imports(tree, module, path.name == "__init__.py"):
        top = imported.split(".")[0]
        rel = str(path.relative_to(root))
        if top in PARTS:
            ok = any(_matches(imported, prefix) for prefix in rule.allowed)
            if not ok and rule.own_subpackage:
                own = ".".join(module.split(".")[:2])
                ok = _matches(imported, own) or imported == rule.owner
            if not ok:
                out.append(Violation(rel, line, module, imported, rule.why))
        elif rule.stdlib_only and top not in sys.stdlib_module_names and top != "__future__":
            out.append(Violation(rel, line, module, imported, rule.why + " and the standard library"))
    return out


def check(root: Path) -> list[Violation]:
    """Every forbidden import in the first-party parts under ``root``."""
    out: list[Violation] = []
    for part in PARTS:
        base = root / part
        if not base.is_dir():
            continue
        for path in sorted(base.rglob("*.py")):
            out.extend(check_file(root, path))
    return out
