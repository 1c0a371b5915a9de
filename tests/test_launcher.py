"""The console script's reading of .na files: bytes that are not UTF-8 and NUL characters are
reported as ``file:line:col: SyntaxError: ...`` with exit code 1, never a traceback (and never
blamed on ``--set``). Real subprocesses of the installed ``danaflow`` script."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

DANAFLOW = Path(sys.executable).parent / "danaflow"

BAD_FILES = {
    "latin1": (b'x = 1\nprint("caf\xe9")\n', "2:11", "not UTF-8"),
    "truncated-utf8": (b"x = 1\ny = 2\nprint('\xe2\x82')\n", "3:8", "not UTF-8"),
    "nul": (b"x = 1\nprint(x)\x00\n", "2:9", "NUL character"),
    "nul-in-string": (b"s = 'a\x00b'\n", "1:7", "NUL character"),
}


@pytest.mark.parametrize("command", ["check", "run"])
@pytest.mark.parametrize("case", BAD_FILES)
def test_unreadable_text_is_a_syntax_error_at_its_place(tmp_path: Path, command: str, case: str) -> None:
    data, where, message = BAD_FILES[case]
    path = tmp_path / "prog.na"
    path.write_bytes(data)
    proc = subprocess.run(
        [str(DANAFLOW), command, str(path)], capture_output=True, text=True, timeout=120, cwd=tmp_path
    )
    assert proc.returncode == 1, proc.stderr
    assert proc.stdout == ""  # nothing ran
    first = proc.stderr.splitlines()[0]
    assert first.startswith(f"{path}:{where}: SyntaxError: "), proc.stderr
    assert message in first
    assert "Traceback" not in proc.stderr and "--set" not in proc.stderr


def test_a_utf8_file_with_a_bom_runs(tmp_path: Path) -> None:
    path = tmp_path / "bom.na"
    path.write_bytes("\ufeffprint('héllo')\n".encode())
    proc = subprocess.run([str(DANAFLOW), "run", str(path)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "héllo\n"


def test_a_one_line_file_ending_in_dot_na_runs_as_source(tmp_path: Path) -> None:
    path = tmp_path / "notes.na"
    path.write_text("# see other.na")  # no newline: must not be taken for a path
    proc = subprocess.run([str(DANAFLOW), "check", str(path)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == f"{path}: ok\n"
