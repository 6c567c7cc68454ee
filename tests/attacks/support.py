"""Shared pieces of the attack suite: bad values, and running a command the
way a user does, capturing what reaches them."""

from __future__ import annotations

import contextlib
import io
import os
from pathlib import Path

from simulator.app.cli import main

LAUGHS_VALUE = (
    "[&a [x,x,x,x,x,x,x,x,x], &b [*a,*a,*a,*a,*a,*a,*a,*a,*a], &c [*b,*b,*b,*b,*b,*b,*b,*b,*b],"
    " &d [*c,*c,*c,*c,*c,*c,*c,*c,*c], &e [*d,*d,*d,*d,*d,*d,*d,*d,*d],"
    " &f [*e,*e,*e,*e,*e,*e,*e,*e,*e], &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]]"
)
"""A command-line value that expands to 9**7 (4.8 million) nodes."""

PYTHON_TAG = "!!python/object/apply:os.system ['touch /tmp/vickreyfeedback-pwned']"

UNIVERSALLY_BAD = {
    "nan-word": "nan",
    "word": "abc",
    "empty": "",
    "unclosed": "[1",
    "mapping": "{zz: 1}",
    "list": "[1, 2, 3]",
    "python-tag": PYTHON_TAG,
    "laughs": LAUGHS_VALUE,
    "yaml-1.1-time": "1:30",
    "negative-huge": "-1e300",
}
"""Values that are wrong for every config field (each field refuses them)."""


def cli(argv: list[str]) -> tuple[int, str, str]:
    """``vickreyfeedback ARGV`` in this process: (exit status, stdout, stderr);
    argparse's SystemExit becomes its status."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(argv)
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
    return code, out.getvalue(), err.getvalue()


def assert_refused(code: int, err: str, *names: str, status: int = 2) -> None:
    """Refused with ``status``, in one line naming one of ``names``, no traceback."""
    assert code == status, (code, err)
    assert "Traceback" not in err, err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    if names:
        assert any(n in lines[0] for n in names), (names, err)


def snapshot(root: Path) -> dict[str, bytes]:
    """Every file under ``root`` and its bytes (to prove nothing was lost)."""
    return {
        str(p.relative_to(root)): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and os.access(p, os.R_OK)
    }
