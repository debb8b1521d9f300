"""Parse-only source analysis: finding a def, what a proposal may hold, the forbidden uses."""

from __future__ import annotations

import pytest

from trace_engine import InvalidCodeError
from trace_engine.source import (
    added_forbidden_uses,
    check_definitions,
    check_proposal,
    find_function,
    first_line,
    forbidden_uses,
    signature_of,
)

SIGNATURE = "def f(x, y=...)"


def test_find_function_finds_the_definition_python_binds_and_its_first_line():
    source = "import os\n\n@decorate\n@again\ndef f(x):\n    return 1\n\ndef f(x):\n    return 2\n"
    definition = find_function(source, "f")
    assert definition.lineno == 8 and first_line(find_function("@d\ndef g():\n    pass", "g")) == 1
    assert find_function("def g(): pass", "f") is None
    assert find_function("def f(:", "f") is None


def test_signature_of_names_kinds_and_defaults():
    definition = find_function("async def f(a, /, b=1, *args, c, d=2, **kw): pass", "f")
    assert signature_of(definition) == "async def f(a, /, b=..., *args, c, d=..., **kw)"


def test_a_proposal_of_imports_and_the_function_is_accepted():
    source = (
        "import math\nfrom collections import Counter as C\n\n"
        "def f(x: list[int], y=(1, -2.5, 'a', None)) -> int:\n"
        '    """Doc."""\n    helper = 3\n    return x\n'
    )
    assert check_proposal(source, "f", SIGNATURE).body[-1].name == "f"


@pytest.mark.parametrize(
    "source, reason",
    [
        (
            "import os\nos.remove('x')\ndef f(x, y=1): pass",
            "top-level expression `os.remove('x')` (line 2)",
        ),
        ("LIMIT = 3\ndef f(x, y=1): pass", "top-level statement `LIMIT = 3`"),
        ("def helper(): pass\ndef f(x, y=1): pass", "top-level function helper"),
        ("class C: pass\ndef f(x, y=1): pass", "top-level class C"),
        ("if True:\n    import os\ndef f(x, y=1): pass", "top-level statement `if True:`"),
        ("from os import *\ndef f(x, y=1): pass", "`from os import *`"),
        ("@cache\ndef f(x, y=1): pass", "decorators run when the function is defined"),
        ("def f(x, y=open('z')): pass", "the default value `open('z')`"),
        ("def f(x, *, y=len('a')): pass", "the default value `len('a')`"),
        ("def f(x, y): pass", "changes the signature from `def f(x, y=...)` to `def f(x, y)`"),
        ("def g(x, y=1): pass", "must define a function named 'f'; it defines g"),
        ("def f(x, y=1): pass\ndef f(x, y=1): pass", "defines 'f' 2 times"),
        ("def f(x, y=1):\n  return (", "does not parse"),
    ],
)
def test_anything_that_runs_when_the_module_is_executed_is_refused(source, reason):
    with pytest.raises(InvalidCodeError, match="^the new code ") as refused:
        check_proposal(source, "f", SIGNATURE)
    assert reason in str(refused.value)


@pytest.mark.parametrize(
    "body, use",
    [
        ("import atexit", "atexit"),
        ("import builtins", "builtins"),
        ("import gc", "gc"),
        ("import inspect", "inspect"),
        ("import timeit", "timeit"),
        ("import resource", "resource"),
        ("import time as clock\n    clock.sleep(1)", "time.sleep"),
        ("from time import perf_counter as pc", "time.perf_counter"),
        ("from time import process_time", "time.process_time"),
        ("import sys\n    sys.exit(1)", "sys.exit"),
        ("from sys import exit as leave", "sys.exit"),
        ("import sys\n    del sys.modules['json']", "sys.modules"),
        ("import sys\n    return sys._getframe(1).f_locals", "sys._getframe"),
        ("import os\n    os._exit(0)", "os._exit"),
        ("from os import _exit", "os._exit"),
        ("raise SystemExit(1)", "SystemExit"),
        ("raise KeyboardInterrupt", "KeyboardInterrupt"),
        ("exit(0)", "exit"),
        ("return x.gi_frame.f_back", "f_back"),
        ("return f.__globals__", "__globals__"),
        ("f.__code__ = None", "__code__"),
        ("return __builtins__", "__builtins__"),
        ("return ().__class__.__bases__[0].__subclasses__()", "__subclasses__"),
        ("return getattr(x, '__globals__')", "__globals__"),
        ("import sys\n    return getattr(sys, 'ex' + 'it')", "getattr(sys, ...)"),
        ("import os\n    return getattr(os, '_exit')", "os._exit"),
        ("exec('import atexit')", "exec"),
        ("return eval(x)", "eval"),
        ("return __import__('atexit')", "__import__"),
        ("import importlib\n    importlib.import_module('atexit')", "importlib"),
        ("len.__self__.len = lambda o: 0", "__self__"),
        ("return vars(f)['__globals__']", "__globals__"),
        ("raise BaseException('out')", "BaseException"),
        ("raise GeneratorExit", "GeneratorExit"),
        ("def g(exit=exit):\n        return exit\n    g()(0)", "exit"),
    ],
)
def test_forbidden_uses_name_each_escape_hatch(body, use):
    uses = forbidden_uses(f"def f(x):\n    {body}\n")
    assert any(u.startswith(use + ":") or u.startswith(use) for u in uses), uses


def test_ordinary_code_has_no_forbidden_uses():
    source = (
        "import os\nimport sys\nimport math\nimport re\n\n"
        "def f(items, key=None):\n"
        "    exit_code = 0\n"
        "    path = os.path.join('a', 'b')\n"
        "    pattern = re.compile(r'x')\n"
        "    size = sys.maxsize\n"
        "    name = getattr(items, 'name', None)\n"
        "    return sorted(items, key=key), math.sqrt(len(items)), path, pattern, size, name\n"
    )
    assert forbidden_uses(source) == []


def test_each_forbidden_use_says_why_once():
    uses = forbidden_uses("import os\ndef f():\n    os._exit(0)\n    os._exit(1)\n")
    assert uses == ["os._exit: ends the process"]


def test_a_module_of_imports_functions_and_constants_is_accepted_as_definitions():
    source = "import math\nLIMIT = (1, 'a')\nA = B = None\n\ndef f(x=1):\n    return x\n\ndef g():\n    pass\n"
    assert len(check_definitions(source).body) == 5


@pytest.mark.parametrize(
    "source, reason",
    [
        ("LIMIT = compute()", "top-level statement `LIMIT = compute()`"),
        ("x.y = 1", "top-level statement `x.y = 1`"),
        ("print('hi')", "top-level expression `print('hi')`"),
        ("class C:\n    pass", "top-level class C"),
        ("@d\ndef f(): pass", "decorates f"),
        ("def f(x=g()): pass", "the default value `g()`"),
    ],
)
def test_definitions_refuse_what_runs_when_the_module_is_executed(source, reason):
    with pytest.raises(InvalidCodeError, match="^the code ") as refused:
        check_definitions(source)
    assert reason in str(refused.value)


@pytest.mark.parametrize(
    "body, use",
    [
        ("import os\n    os.remove(x)", "os.remove"),
        ("from os import unlink\n    unlink(x)", "os.unlink"),
        ("import os\n    os.system('rm -rf x')", "os.system"),
        ("import shutil\n    shutil.rmtree(x)", "shutil"),
        ("import subprocess\n    subprocess.run(['rm', x])", "subprocess"),
        ("import socket", "socket"),
        ("return open(x, 'w')", "open"),
        ("x.unlink()", "unlink"),
        ("x.write_text('')", "write_text"),
    ],
)
def test_code_that_runs_in_the_host_may_not_touch_files_processes_or_the_network(body, use):
    source = f"def f(x):\n    {body}\n"
    assert forbidden_uses(source) == [], "a sandbox, not this policy, guards files by default"
    uses = forbidden_uses(source, in_host=True)
    assert any(u.startswith(use) for u in uses), uses


def test_a_rewrite_may_keep_what_the_original_already_did():
    original = "def f(path):\n    with open(path) as fh:\n        return fh.read()\n"
    rewrite = "def f(path):\n    return open(path).read()\n"
    assert added_forbidden_uses(rewrite, original, in_host=True) == []
    assert added_forbidden_uses(rewrite, "def f(path):\n    return path\n", in_host=True) == [
        "open: opens files"
    ]
