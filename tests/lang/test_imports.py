"""Dana imports: .na modules found beside the program, in given paths, and from inside a package."""

from __future__ import annotations

from pathlib import Path

import pytest

from danaflow.lang.api import run


@pytest.mark.parametrize("isolation", ["process", "inprocess"])
def test_from_pkg_import_works_from_a_file_inside_the_package(tmp_path: Path, isolation: str) -> None:
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    (pkg / "mod.na").write_text("def helper(x):\n    return x * 2\n")
    (pkg / "main.na").write_text(
        "from pkg.mod import helper\nimport pkg.mod\nprint(helper(21), pkg.mod.helper(1))\n"
    )
    outcome = run(pkg / "main.na", isolation=isolation, print_sink=lambda s: None)
    assert outcome.error is None, outcome.error
    assert outcome.output == "42 2\n"


def test_a_module_that_is_nowhere_is_an_import_error_at_its_line(tmp_path: Path) -> None:
    prog = tmp_path / "main.na"
    prog.write_text("x = 1\nfrom nowhere.mod import thing\n")
    outcome = run(prog, print_sink=lambda s: None)
    assert outcome.error is not None and outcome.error.location.line == 2
    assert "nowhere.mod" in outcome.error.message
