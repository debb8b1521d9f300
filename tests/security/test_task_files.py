"""A code_repair task file someone sent you is data: defining its functions runs none of it."""

from __future__ import annotations

import json

import pytest

from workflows.code_repair import CodeRepair, load_repair_tasks
from workflows.datasets import DatasetError

TESTS = "def check(candidate):\n    assert candidate(2, 3) == 5\n"


@pytest.mark.parametrize(
    "field, source, reason",
    [
        ("code", "import os\nos.remove({canary!r})\n\ndef add(a, b):\n    return a\n", "top-level"),
        ("code", "def add(a, b=open({canary!r}, 'w')):\n    return a\n", "default value"),
        ("code", "@print\ndef add(a, b):\n    return a\n", "decorates add"),
        ("setup", "import os\nos.remove({canary!r})\n", "top-level expression"),
        ("setup", "LIMIT = open({canary!r}, 'w')\n", "top-level statement `LIMIT = open"),
        ("setup", "def helper(x=open({canary!r}, 'w')):\n    return x\n", "default value"),
    ],
    ids=["code-top-level", "code-default", "code-decorator", "setup-top-level",
         "setup-assignment", "setup-default"],
)  # fmt: skip
def test_code_in_a_task_file_is_refused_before_anything_runs(tmp_path, field, source, reason):
    canary = tmp_path / "canary.txt"
    canary.write_text("still here")
    task = {"entry_point": "add", "code": "def add(a, b):\n    return a - b\n", "tests": TESTS}
    task[field] = source.format(canary=str(canary))
    data = tmp_path / "tasks.jsonl"
    data.write_text(json.dumps(task) + "\n")
    with pytest.raises(DatasetError, match=reason):
        CodeRepair(load_repair_tasks(data))
    assert canary.read_text() == "still here"


def test_a_task_file_of_imports_functions_and_constants_is_defined(tmp_path):
    task = {
        "entry_point": "add",
        "setup": "import math\nOFFSET = 0\n\ndef helper(x: 'Weird[annotation]') -> int:\n    return x\n",
        "code": "def add(a: int, b: int = 0) -> int:\n    return helper(a) + b + OFFSET\n",
        "tests": TESTS,
    }
    data = tmp_path / "tasks.jsonl"
    data.write_text(json.dumps(task) + "\n")
    repair = CodeRepair(load_repair_tasks(data))
    assert repair.function("add")(2, 3).data == 5


def test_reading_a_task_file_runs_no_module_it_imports(tmp_path, monkeypatch):
    marker = tmp_path / "ran.txt"
    (tmp_path / "planted_module.py").write_text(f"open({str(marker)!r}, 'w').close()\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    task = {
        "entry_point": "add",
        "setup": "import planted_module\nimport math\nfrom os import path as osp\n",
        "code": "from planted_module import helper\n\ndef add(a, b):\n    return int(math.fsum([a, b]))\n",
        "tests": TESTS,
    }
    data = tmp_path / "tasks.jsonl"
    data.write_text(json.dumps(task) + "\n")
    repair = CodeRepair(load_repair_tasks(data))
    assert not marker.exists()
    assert repair.function("add")(2, 3).data == 5  # math was already loaded by the host


def test_a_task_that_imports_a_missing_module_is_refused_when_read(tmp_path):
    task = {"entry_point": "add", "code": "import no_such_module_here\n\ndef add(a, b):\n    return a + b\n", "tests": TESTS}
    data = tmp_path / "tasks.jsonl"
    data.write_text(json.dumps(task) + "\n")
    with pytest.raises(DatasetError, match="imports 'no_such_module_here', which is not installed"):
        CodeRepair(load_repair_tasks(data))
