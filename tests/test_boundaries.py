"""The two sides stay apart (the host never imports TensorFlow, the trainer never the host), the
packages are layered (no module imports from a layer above its own), nothing imports itself
round about, and the commands and web handlers stay short."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import ddsp_launch

PKG = Path(ddsp_launch.__file__).parent
TRAINER = PKG / "trainer"


def host_modules() -> list[str]:
    mods = []
    for path in PKG.rglob("*.py"):
        if TRAINER in path.parents:
            continue
        rel = path.relative_to(PKG.parent).with_suffix("")
        name = ".".join(rel.parts).removesuffix(".__init__")
        if not name.endswith("__main__"):
            mods.append(name)
    return sorted(mods)


def test_host_side_imports_no_tensorflow():
    mods = host_modules()
    assert "ddsp_launch.cli" in mods and "ddsp_launch.common.gcs" in mods
    code = (
        "import importlib, sys\n"
        f"for m in {mods!r}: importlib.import_module(m)\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'ddsp', 'tf_keras', 'librosa'))\n"
        "print(','.join(bad))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == ""


def test_cli_help_imports_no_tensorflow():
    code = "import sys\nfrom ddsp_launch.cli import app\ntry:\n    app(['--help'])\nexcept SystemExit:\n    pass\nprint('tensorflow' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip().endswith("False")


def test_trainer_imports_only_itself_and_common():
    offenders = []
    for path in TRAINER.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            for name in names:
                if name.startswith("ddsp_launch") and not name.startswith(("ddsp_launch.trainer", "ddsp_launch.common")) and name != "ddsp_launch":
                    offenders.append(f"{path.relative_to(PKG)}: {name}")
    assert offenders == []


# ---- layers: each package imports only from its own layer and those below ------------------
LAYERS = ("common", "trainer", "spec", "cloud", "adapters", "image", "runtime", "launch", "web", "cli")
"""Low to high: shared pure helpers; the container side; the run specification; Vertex AI's pure
rules and request rendering; one adapter per external system; the training image; running on
this machine; the launcher (resolver, targets, records, prompts); the web pages; the commands."""


def _modules() -> dict[str, Path]:
    out = {}
    for path in PKG.rglob("*.py"):
        name = ".".join(path.relative_to(PKG.parent).with_suffix("").parts).removesuffix(".__init__")
        out[name] = path
    return out


def _layer(module: str) -> int:
    parts = module.split(".")
    if module == "ddsp_launch.__main__":
        return len(LAYERS)
    return LAYERS.index(parts[1]) if len(parts) > 1 else 0  # ddsp_launch itself: the version, at the bottom


def _imports(modules: dict[str, Path]) -> dict[str, set[str]]:
    """Every ddsp_launch module each module imports, at its top or inside a function (a lazy import
    is still a dependency); `from pkg import name` counts as the module pkg.name when there is one."""
    graph = {}
    for module, path in modules.items():
        found = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [f"{node.module}.{a.name}" for a in node.names]
            else:
                continue
            for name in names:
                while name and name not in modules:
                    name = name.rpartition(".")[0]
                if name.startswith("ddsp_launch") and name != module and not module.startswith(name + "."):
                    found.add(name)
        graph[module] = found
    return graph


def test_no_module_imports_from_a_layer_above_it():
    graph = _imports(_modules())
    upward = sorted(f"{m} ({LAYERS[_layer(m)] if _layer(m) < len(LAYERS) else 'main'}) imports {d} ({LAYERS[_layer(d)]})"
                    for m, deps in graph.items() for d in deps if _layer(d) > _layer(m))
    assert upward == []


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The groups of modules that import each other, directly or round about (Tarjan's algorithm)."""
    index, low, stack, on_stack, cycles = {}, {}, [], set(), []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = set()
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.add(w)
                if w == v:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return cycles


def test_no_import_cycles():
    assert _cycles(_imports(_modules())) == []


def test_the_checks_see_an_upward_import_and_a_cycle():
    graph = {"ddsp_launch.common.a": {"ddsp_launch.launch.b"}, "ddsp_launch.launch.b": {"ddsp_launch.launch.c"},
             "ddsp_launch.launch.c": {"ddsp_launch.common.a"}}
    assert [(m, d) for m, deps in graph.items() for d in deps if _layer(d) > _layer(m)] == [
        ("ddsp_launch.common.a", "ddsp_launch.launch.b")]
    assert _cycles(graph) == [["ddsp_launch.common.a", "ddsp_launch.launch.b", "ddsp_launch.launch.c"]]


def test_commands_and_web_handlers_are_short():
    long = []
    for folder in (PKG / "cli", PKG / "web"):
        for path in folder.rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.end_lineno - node.lineno + 1 > 60:
                    long.append(f"{path.relative_to(PKG)}:{node.lineno} {node.name} ({node.end_lineno - node.lineno + 1} lines)")
    assert long == []
