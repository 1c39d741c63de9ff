"""What a person sees while a run works: a line per stage and per platform when not a terminal."""

import io

from rich.console import Console

from snapprice.cli import display
from snapprice.cli.display import run_progress
from snapprice.progress import report


def test_plain_lines_tell_each_stage_and_each_platform_once_it_is_through(monkeypatch):
    out = io.StringIO()
    console = Console(file=out, force_terminal=False)
    monkeypatch.setattr(display, "LINE_EVERY", 3600.0)
    with run_progress(console, qps=10, quiet=False, platform_qps={"taobao": 5, "jd": 5}):
        report("hash", 0, 4)
        report("hash", 4, 4)
        report("search", 1, 4)
        report("search:taobao", 1, 2)
        report("search", 2, 4)  # neither first, last nor LINE_EVERY later: no line
        report("search:taobao", 2, 2)
        report("search:jd", 2, 2)
        report("search", 4, 4)
    lines = out.getvalue().splitlines()
    assert lines[:3] == ["hashing: 0/4", "hashing: 4/4", "searching: 1/4"]
    assert [line.split(",")[0] for line in lines[3:]] == [
        "searching taobao: 2/2 done", "searching jd: 2/2 done", "searching: 4/4"]
    assert "(budget 5/s)" in lines[3] and "(budget 10/s)" in lines[-1]


def test_quiet_prints_nothing():
    out = io.StringIO()
    with run_progress(Console(file=out, force_terminal=False), qps=10, quiet=True):
        report("search", 1, 1)
    assert out.getvalue() == ""


def test_a_terminal_gets_a_bar_per_stage_and_platform():
    out = io.StringIO()
    console = Console(file=out, force_terminal=True, width=100)
    with run_progress(console, qps=10, quiet=False, platform_qps={"taobao": 5}):
        report("search", 1, 2)
        report("search:taobao", 1, 2)
    assert "searching" in out.getvalue() and "taobao" in out.getvalue()
