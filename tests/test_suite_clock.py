"""The suite reads the clock when a test runs, never when its module is imported or its parameters are
collected: CI's run of 1 Dec 2026 crossed midnight and two tests failed, comparing dates taken at collection
(a module's `TODAY = timezone.localdate()`, a parametrize's `date.today() + 1 day`) with the day they ran."""

import ast
from pathlib import Path

TESTS = Path(__file__).resolve().parent
CLOCK_READS = {"now", "localdate", "localtime", "today", "utcnow"}


def _calls_outside_functions(node):
    """The clock reads in `node` that run when it is evaluated (not those in a lambda's or function's body)."""
    pending = [node]
    while pending:
        current = pending.pop()
        if isinstance(current, ast.Lambda | ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        if isinstance(current, ast.Call) and getattr(current.func, "attr", None) in CLOCK_READS:
            yield current.lineno
        pending.extend(ast.iter_child_nodes(current))


def collection_time_clock_reads(path: Path) -> list[int]:
    """Lines where `path` reads the clock as it is imported: module and class statements, decorators
    (pytest.mark.parametrize) and default argument values."""
    lines = []
    pending = list(ast.parse(path.read_text(), filename=str(path)).body)
    while pending:
        statement = pending.pop()
        if isinstance(statement, ast.FunctionDef | ast.AsyncFunctionDef):
            evaluated = [*statement.decorator_list, *statement.args.defaults, *statement.args.kw_defaults]
            for node in filter(None, evaluated):
                lines.extend(_calls_outside_functions(node))
        elif isinstance(statement, ast.ClassDef):
            for node in statement.decorator_list:
                lines.extend(_calls_outside_functions(node))
            pending.extend(statement.body)
        else:
            lines.extend(_calls_outside_functions(statement))
    return sorted(lines)


def test_no_test_module_reads_the_clock_when_it_is_collected():
    found = {
        str(path.relative_to(TESTS)): collection_time_clock_reads(path)
        for path in TESTS.rglob("*.py")
        if collection_time_clock_reads(path)
    }
    assert found == {}


def test_the_check_finds_a_module_constant_and_a_parameter(tmp_path):
    sample = tmp_path / "test_sample.py"
    sample.write_text(
        "TODAY = timezone.localdate()\n"
        "later = lambda: timezone.now()\n"  # read when called: fine
        "@pytest.mark.parametrize('born', [datetime.date.today()])\n"
        "def test_it(born, when=timezone.now()):\n"
        "    assert timezone.now()\n"  # read as the test runs: fine
    )
    assert collection_time_clock_reads(sample) == [1, 3, 4]
