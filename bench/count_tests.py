"""How much the test suite checks: the tests pytest collects (`make test`'s selection and the
soak's) and the ``assert`` statements in tests/, for comparing two trees, e.g. before and after
a change to the test layout:

    .venv/bin/python bench/count_tests.py            # this tree
    .venv/bin/python bench/count_tests.py ../other   # another checkout, with this venv's pytest

Asserts are counted from the syntax tree (``assert`` statements, not the word in strings or
comments); calls such as ``pytest.raises`` or Playwright's ``expect`` are counted apart.
"""

import argparse
import ast
import subprocess
import sys
from pathlib import Path

CHECK_CALLS = ("raises", "expect", "warns", "fail")


def collected(tree: Path, *args: str) -> int:
    """How many tests pytest collects in ``tree`` with ``args`` (after deselection)."""
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider", *args],
        cwd=tree,
        capture_output=True,
        text=True,
        check=False,
    )
    lines = [line for line in done.stdout.splitlines() if "::" in line]
    if done.returncode not in (0, 5):
        raise SystemExit(f"pytest could not collect in {tree}:\n{done.stdout}{done.stderr}")
    return len(lines)


def statements(tree: Path) -> tuple[int, int, int]:
    """(test files, assert statements, calls of pytest.raises / expect / …) under tests/."""
    files = asserts = calls = 0
    for path in sorted((tree / "tests").rglob("*.py")):
        files += path.name.startswith("test_")
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Assert):
                asserts += 1
            elif isinstance(node, ast.Call):
                name = getattr(node.func, "attr", getattr(node.func, "id", ""))
                calls += name in CHECK_CALLS
    return files, asserts, calls


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("tree", nargs="?", default=".", type=Path)
    tree = parser.parse_args().tree.resolve()
    files, asserts, calls = statements(tree)
    print(f"tree: {tree}")
    print(f"tests collected (make test): {collected(tree)}")
    print(f"tests collected (make soak): {collected(tree, '-m', 'soak', 'tests/soak')}")
    print(f"test files: {files}")
    print(f"assert statements: {asserts}")
    print(f"pytest.raises / expect / warns / fail calls: {calls}")


if __name__ == "__main__":
    main()
