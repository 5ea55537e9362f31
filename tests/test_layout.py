"""The package's layout: no import cycle, each floor imports only the floors below it, and
argparse and minidni.cli stay in the command-line layer."""
import ast
import json
import pathlib
import re

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "minidni"

# backend -> nn -> losses/optim -> synthetic -> train -> experiments -> plots -> cli
FLOORS = [("errors", "options", "backend"),
          ("trace", "gradcheck", "nn", "data", "checkpoint"),
          ("losses", "optim", "models", "memory"),
          ("synthetic",),
          ("train", "simulate"),
          ("parallel",),
          ("experiments", "course"),
          ("plots",),
          ("cli", "__main__")]
CLI_IMPORT = re.compile(r"(from|import)\s+minidni\.cli(\b|_)|from\s+minidni\s+import\s+[\w, ]*\bcli\b")
FLOOR = {name: level for level, names in enumerate(FLOORS) for name in names}


def modules():
    """{dotted module name: path} of every module in the package."""
    out = {}
    for path in PACKAGE.rglob("*.py"):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


def imports_of(name, path, known):
    """The package's modules that `name` imports (a submodule, not its package, for `from . import x`)."""
    package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            base = package[:len(package) - node.level + 1] if node.level else []
            origin = ".".join(base + ([node.module] if node.module else []))
            targets = [f"{origin}.{a.name}" if f"{origin}.{a.name}" in known else origin for a in node.names]
        elif isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        else:
            continue
        for target in targets:
            while target and target not in known:
                target = target.rpartition(".")[0]
            if target and target != name:
                found.add(target)
    return found


def import_graph():
    known = modules()
    return {name: imports_of(name, path, known) for name, path in known.items()}


def find_cycle(graph):
    """One import cycle as a list of modules, or None."""
    state = {}

    def visit(node, stack):
        state[node] = "open"
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == "open":
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state:
                cycle = visit(nxt, stack)
                if cycle:
                    return cycle
        stack.pop()
        state[node] = "done"
        return None

    for node in sorted(graph):
        if node not in state:
            cycle = visit(node, [])
            if cycle:
                return cycle
    return None


def floor_of(module):
    top = module.split(".")[1] if "." in module else None
    return FLOOR.get(top)


def test_the_cycle_finder_finds_a_cycle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": set()}) is None


def test_no_import_cycle_in_the_package():
    cycle = find_cycle(import_graph())
    assert cycle is None, " -> ".join(cycle)


def test_every_module_has_a_floor_and_imports_only_floors_below_or_its_own():
    graph = import_graph()
    for module, targets in graph.items():
        if module == "minidni":
            continue
        assert floor_of(module) is not None, f"{module}: add it to FLOORS in this test"
        for target in targets:
            if target == "minidni":
                continue
            assert floor_of(target) <= floor_of(module), f"{module} imports {target}, a floor above it"


@pytest.mark.parametrize("path", sorted(p for p in PACKAGE.rglob("*.py") if "cli" not in p.relative_to(PACKAGE).parts))
def test_only_the_command_line_imports_argparse(path):
    tree = ast.parse(path.read_text())
    names = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    names |= {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
    assert "argparse" not in names


def _sources_outside_the_cli_tests():
    for path in sorted((ROOT / "benchmarks").glob("*.py")) + sorted((ROOT / "tests").glob("*.py")):
        if path.name not in ("test_cli.py", "test_layout.py") and not path.name.startswith("test_faults_"):
            # the CLI's own tests: test_cli.py and the fault lists (tests/test_faults_*.py)
            yield path, path.read_text()
    for path in sorted((ROOT / "tutorials").glob("*.ipynb")):
        cells = json.loads(path.read_text())["cells"]
        yield path, "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "code")
    for path in sorted((PACKAGE / "plots").glob("*.py")) + sorted((PACKAGE / "experiments").glob("*.py")):
        yield path, path.read_text()


@pytest.mark.parametrize("path,source", list(_sources_outside_the_cli_tests()), ids=lambda v: getattr(v, "name", ""))
def test_notebooks_figures_benchmarks_and_tests_do_not_import_the_cli(path, source):
    assert not CLI_IMPORT.search(source)


def test_the_cli_import_pattern_matches_what_it_should():
    for line in ("from minidni.cli import main", "import minidni.cli", "from minidni.cli.rnn import main",
                 "from minidni import cli", "from minidni.cli_rnn import run_compare"):
        assert CLI_IMPORT.search(line), line
    assert not CLI_IMPORT.search("from minidni.experiments import run  # what minidni.cli runs")


def test_every_import_inside_the_package_resolves_even_those_inside_functions():
    import importlib
    known = modules()
    for name, path in known.items():
        package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.level:
                origin = ".".join(package[:len(package) - node.level + 1] + ([node.module] if node.module else []))
                assert origin in known, f"{name}: from {'.' * node.level}{node.module or ''} import ...: no {origin}"
                module = importlib.import_module(origin)
                for alias in node.names:
                    assert hasattr(module, alias.name) or f"{origin}.{alias.name}" in known, \
                        f"{name}: {origin} has no {alias.name}"
