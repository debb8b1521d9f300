"""Parse-only analysis of Python source: the one place that reads functions out of code.

Everything here works on the syntax tree; nothing is imported or executed. It
finds a top-level function and its calling convention, decides whether a
proposed module may replace a function (:func:`check_proposal`), and names the
uses of the interpreter's escape hatches that proposed code is refused for
(:func:`forbidden_uses`). Code parameters, the optimizers, code sessions and
code repair all rely on it, so a proposal means the same thing everywhere.

Why a proposal may hold only imports and the one function: executing a ``def``
also evaluates its decorators, default values and annotations, and executing a
module runs every top-level statement. A proposal limited to imports plus one
undecorated function with literal defaults runs nothing of its own when it is
turned into a callable (:func:`compile_checked`); annotations are kept as text,
never evaluated.
"""

from __future__ import annotations
import __future__

import ast
import functools
import itertools
import textwrap
import types
from collections.abc import Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from trace_engine.errors import InvalidCodeError

FunctionDefinition = ast.FunctionDef | ast.AsyncFunctionDef


def parse(source: str, what: str = "the code") -> ast.Module:
    """The syntax tree of ``source``, or :class:`InvalidCodeError` saying where it does not parse."""
    if not isinstance(source, str):
        raise InvalidCodeError(
            f"{what} must be a str of Python source, got {type(source).__name__}"
        )
    try:
        return ast.parse(source)
    except SyntaxError as exc:
        raise InvalidCodeError(
            f"{what} does not parse: {exc.msg} (line {exc.lineno}: {(exc.text or '').strip()})"
        ) from None
    except ValueError as exc:  # null bytes
        raise InvalidCodeError(f"{what} does not parse: {exc}") from None


def normalize(source: str) -> str:
    """``source`` dedented, without leading or trailing blank lines, ending in one newline."""
    return textwrap.dedent(source).strip("\n") + "\n"


def top_level_functions(tree: ast.Module) -> list[FunctionDefinition]:
    """The functions defined directly in the module, in order."""
    return [n for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]


def find_function(source: str | ast.Module, name: str) -> FunctionDefinition | None:
    """The top-level definition of ``name`` (the last one, as Python binds it); ``None`` when
    absent or when ``source`` does not parse."""
    if isinstance(source, str):
        try:
            source = ast.parse(source)
        except (SyntaxError, ValueError):
            return None
    found = [d for d in top_level_functions(source) if d.name == name]
    return found[-1] if found else None


def require_function(tree: ast.Module, name: str, what: str = "the code") -> FunctionDefinition:
    """The one top-level definition of ``name``; :class:`InvalidCodeError` when there is none
    or more than one."""
    functions = top_level_functions(tree)
    defs = [d for d in functions if d.name == name]
    if not defs:
        found = ", ".join(d.name for d in functions)
        raise InvalidCodeError(
            f"{what} must define a function named {name!r}"
            + (f"; it defines {found}" if found else "; it defines no function")
        )
    if len(defs) > 1:
        raise InvalidCodeError(f"{what} defines {name!r} {len(defs)} times; define it once")
    return defs[0]


def signature_of(definition: FunctionDefinition) -> str:
    """The calling convention: parameter names, kinds and which have defaults."""
    a = definition.args
    positional = a.posonlyargs + a.args
    first_default = len(positional) - len(a.defaults)
    parts = []
    for i, arg in enumerate(positional):
        parts.append(arg.arg + ("=..." if i >= first_default else ""))
        if a.posonlyargs and i == len(a.posonlyargs) - 1:
            parts.append("/")
    if a.vararg:
        parts.append("*" + a.vararg.arg)
    elif a.kwonlyargs:
        parts.append("*")
    for arg, default in zip(a.kwonlyargs, a.kw_defaults):
        parts.append(arg.arg + ("=..." if default is not None else ""))
    if a.kwarg:
        parts.append("**" + a.kwarg.arg)
    prefix = "async def" if isinstance(definition, ast.AsyncFunctionDef) else "def"
    return f"{prefix} {definition.name}({', '.join(parts)})"


def first_line(definition: FunctionDefinition) -> int:
    """The line a definition starts on: its first decorator's, else its ``def`` line."""
    return min([definition.lineno] + [d.lineno for d in definition.decorator_list])


def source_from_def(source: str, definition: FunctionDefinition) -> str:
    """The text of ``definition`` in ``source`` from its ``def`` line to its end (no decorators)."""
    lines = source.splitlines()[definition.lineno - 1 : definition.end_lineno]
    return "\n".join(lines).rstrip() + "\n"


def check_proposal(
    source: str, name: str, signature: str, what: str = "the new code"
) -> ast.Module:
    """Accept ``source`` as the new code of function ``name`` or raise :class:`InvalidCodeError`.

    Accepted: a module of imports and exactly one definition of ``name`` with the
    calling convention ``signature`` (as :func:`signature_of` writes it), no
    decorators, and literal default values. Anything else at top level would run
    when the module is executed, so it is refused with the reason. Returns the
    parsed module; :func:`compile_checked` turns the source into code that runs
    nothing else.
    """
    tree = parse(source, what)
    definition = require_function(tree, name, what)
    for statement in tree.body:
        if statement is not definition:
            _require_import(
                statement,
                what,
                f"it may hold only imports and the function {name}: move helpers and "
                "constants inside the function",
            )
    _check_function(definition, what)
    found = signature_of(definition)
    if found != signature:
        raise InvalidCodeError(
            f"{what} changes the signature from `{signature}` to `{found}`; "
            "keep the name and parameters"
        )
    return tree


def check_definitions(source: str, what: str = "the code") -> ast.Module:
    """Accept a module that only defines things, or raise :class:`InvalidCodeError`.

    Accepted at top level: imports, functions as :func:`check_proposal` accepts
    them (no decorators, literal defaults), and names bound to literals
    (``LIMIT = 3``). Such a module runs no code of its own when executed with
    :func:`compile_checked` beyond its imports.
    """
    tree = parse(source, what)
    for statement in tree.body:
        if isinstance(statement, (ast.FunctionDef, ast.AsyncFunctionDef)):
            _check_function(statement, what)
        elif not _is_constant(statement):
            _require_import(statement, what, "it may hold only imports, functions and constants")
    return tree


def compile_checked(source: str | ast.Module, filename: str) -> types.CodeType:
    """Code of ``source`` (accepted by :func:`check_proposal` or :func:`check_definitions`)
    whose annotations stay text (``from __future__ import annotations``), so executing
    it evaluates nothing but its imports and literals."""
    flags = __future__.annotations.compiler_flag
    return compile(source, filename, "exec", flags=flags, dont_inherit=True)


def _require_import(statement: ast.stmt, what: str, rule: str) -> None:
    if isinstance(statement, ast.ImportFrom) and any(a.name == "*" for a in statement.names):
        raise InvalidCodeError(
            f"{what} has `from {statement.module} import *` (line {statement.lineno}); "
            "import the names it uses"
        )
    if not isinstance(statement, (ast.Import, ast.ImportFrom)):
        raise InvalidCodeError(
            f"{what} has a top-level {_statement_kind(statement)} (line {statement.lineno}); "
            + rule
        )


def _check_function(definition: FunctionDefinition, what: str) -> None:
    """Refuse what a ``def`` evaluates when it runs: decorators, type parameters, defaults
    that are not literals."""
    name = definition.name
    if definition.decorator_list:
        raise InvalidCodeError(
            f"{what} decorates {name} (line {definition.decorator_list[0].lineno}); "
            "decorators run when the function is defined: remove them"
        )
    if getattr(definition, "type_params", None):
        raise InvalidCodeError(f"{what} gives {name} type parameters; remove them")
    args = definition.args
    for default in [*args.defaults, *(d for d in args.kw_defaults if d is not None)]:
        if not _is_literal(default):
            raise InvalidCodeError(
                f"{what} has the default value `{_clip(ast.unparse(default))}` (line "
                f"{default.lineno}); defaults are evaluated when the function is defined, so "
                "only literals (numbers, strings, None, tuples, ...) are accepted"
            )


def _is_constant(statement: ast.stmt) -> bool:
    """``NAME = literal`` (one or more plain names)."""
    return (
        isinstance(statement, ast.Assign)
        and all(isinstance(t, ast.Name) for t in statement.targets)
        and _is_literal(statement.value)
    )


def _is_literal(node: ast.expr) -> bool:
    try:
        ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return False
    return True


def _statement_kind(statement: ast.stmt) -> str:
    if isinstance(statement, (ast.FunctionDef, ast.AsyncFunctionDef)):
        return f"function {statement.name}"
    if isinstance(statement, ast.ClassDef):
        return f"class {statement.name}"
    if isinstance(statement, ast.Expr):
        return f"expression `{_clip(ast.unparse(statement))}`"
    return f"statement `{_clip(ast.unparse(statement).splitlines()[0])}`"


def _clip(text: str, limit: int = 60) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


# The static policy ------------------------------------------------------------------
_MODULES = {
    "atexit": "runs code when the interpreter exits",
    "builtins": "can patch the interpreter's built-in functions",
    "gc": "reaches objects it was not given",
    "inspect": "reaches frames and objects it was not given",
    "time": "reads or changes the clock that times it",
    "timeit": "times code itself",
    "resource": "reads or changes process limits and CPU times",
    "signal": "handles signals and sets timers",
    "ctypes": "calls native code directly",
    "importlib": "imports modules by computed names",
    "faulthandler": "installs process-wide handlers",
    "pickle": "loads objects that run code the policy cannot see",
    "marshal": "loads code the policy cannot see",
    "posix": "is os under another name",
}
_ATTRIBUTES = {
    "sys.exit": "ends the process",
    "sys.modules": "patches imported modules",
    "sys._getframe": "reaches the caller's frames",
    "sys._current_frames": "reaches other threads' frames",
    "sys.settrace": "traces the caller",
    "sys.setprofile": "profiles the caller",
    "sys.addaudithook": "installs a process-wide hook",
    "sys.meta_path": "changes how modules are imported",
    "sys.path_hooks": "changes how modules are imported",
    "os._exit": "ends the process",
    "os.abort": "ends the process",
    "os.kill": "signals processes",
    "os.killpg": "signals process groups",
    "os.fork": "starts processes that outlive the call",
    "os.forkpty": "starts processes that outlive the call",
    "os.times": "reads the CPU times that time it",
    "operator.attrgetter": "reaches attributes by computed names",
    "operator.methodcaller": "calls methods by computed names",
    "types.FunctionType": "builds functions from code the policy cannot see",
    "types.LambdaType": "builds functions from code the policy cannot see",
    "types.CodeType": "builds code the policy cannot see",
}
_NAMES = {
    "exit": "ends the process (raises SystemExit)",
    "quit": "ends the process (raises SystemExit)",
    "SystemExit": "ends the process",
    "KeyboardInterrupt": "stands for the user's interrupt",
    "BaseException": "escapes the handlers that catch errors",
    "GeneratorExit": "escapes the handlers that catch errors",
    "__import__": "imports modules by computed names",
    "__builtins__": "can patch the interpreter's built-in functions",
    "eval": "runs code the policy cannot see",
    "exec": "runs code the policy cannot see",
    "compile": "builds code the policy cannot see",
    "globals": "reaches the module's namespace",
    "breakpoint": "stops the process for a debugger",
    "vars": "reaches a module's or object's namespace",
}
_DUNDERS_AND_FRAMES = {
    "f_back": "reaches the caller's frame",
    "f_globals": "reaches a frame's namespace",
    "f_locals": "reaches a frame's variables",
    "f_builtins": "reaches a frame's built-ins",
    "f_code": "reaches a frame's code",
    "tb_frame": "reaches frames through a traceback",
    "gi_frame": "reaches a generator's frame",
    "cr_frame": "reaches a coroutine's frame",
    "ag_frame": "reaches an async generator's frame",
    "__globals__": "reaches a function's module namespace",
    "__code__": "reads or replaces a function's code",
    "__closure__": "reaches a function's captured variables",
    "__builtins__": "can patch the interpreter's built-in functions",
    "__subclasses__": "reaches classes it was not given",
    "__import__": "imports modules by computed names",
    "__loader__": "reaches the import machinery",
    "__self__": "reaches the module a built-in function belongs to",
    "__dict__": "reaches a module's or object's namespace",
    "__getattribute__": "reaches attributes by computed names",
}
_ATTRIBUTE_CALLS = {"getattr", "setattr", "delattr", "hasattr"}
_DYNAMIC_BASES = {"sys", "os", "builtins"}

# What code that runs in the host process (a code parameter's function) may not
# start doing either: touch files, processes or the network.
_HOST_MODULES = {
    "subprocess": "starts processes",
    "multiprocessing": "starts processes",
    "pty": "starts processes",
    "shutil": "copies, moves and deletes files",
    "socket": "opens network connections",
    "urllib": "reaches the network",
    "http": "reaches the network",
    "ftplib": "reaches the network",
    "smtplib": "reaches the network",
    "webbrowser": "starts programs",
    "threading": "starts threads that outlive the call",
    "_thread": "starts threads that outlive the call",
    "concurrent": "starts threads or processes that outlive the call",
    "_posixsubprocess": "starts processes",
    "tempfile": "creates files",
    "sqlite3": "opens files",
    "shelve": "opens files",
    "dbm": "opens files",
    "zipfile": "opens files",
    "tarfile": "opens files",
    "fileinput": "opens files",
    "mmap": "maps files",
}
_FILE_CHANGES = (
    "remove unlink rmdir removedirs rename renames replace truncate chmod chown link "
    "symlink mkdir makedirs mkfifo open write putenv unsetenv chdir"
)
_HOST_ATTRIBUTES = {
    **{f"os.{name}": "changes files or the process's state" for name in _FILE_CHANGES.split()},
    **{
        f"os.{name}": "starts processes"
        for name in [
            "system",
            "popen",
            "execl",
            "execle",
            "execlp",
            "execlpe",
            "execv",
            "execve",
            "execvp",
            "execvpe",
            "spawnl",
            "spawnle",
            "spawnlp",
            "spawnlpe",
            "spawnv",
            "spawnve",
            "spawnvp",
            "spawnvpe",
            "posix_spawn",
            "posix_spawnp",
            "startfile",
        ]
    },
}
_HOST_ATTRIBUTES.update(
    {
        **{
            f"os.{name}": "changes the process's sessions, descriptors or privileges"
            for name in [
                "setsid",
                "setpgid",
                "setpgrp",
                "dup",
                "dup2",
                "close",
                "closerange",
                "nice",
                "umask",
                "setuid",
                "seteuid",
                "setgid",
                "setegid",
                "setreuid",
                "setregid",
                "chroot",
                "sched_setaffinity",
            ]
        },
        **{f"sys.{name}": "reads the terminal" for name in ("stdin", "__stdin__")},
        **{
            f"sys.{name}": "closes or replaces the process's output"
            for name in (
                "stdout.close",
                "stderr.close",
                "stdout.detach",
                "stderr.detach",
                "__stdout__",
                "__stderr__",
            )
        },
        **{
            f"sys.{name}": "changes the interpreter for every caller"
            for name in ("path", "setswitchinterval", "set_int_max_str_digits", "setdlopenflags")
        },
        **{f"{module}.open": "opens files" for module in ("io", "codecs", "gzip", "bz2", "lzma")},
        "io.FileIO": "opens files",
        "os.environ": "reads or changes the process's environment (API keys)",
        "os.getenv": "reads the process's environment (API keys)",
        "os.environb": "reads or changes the process's environment (API keys)",
        "sys.setrecursionlimit": "changes the interpreter's limits",
        "asyncio.create_subprocess_exec": "starts processes",
        "asyncio.create_subprocess_shell": "starts processes",
    }
)
_HOST_NAMES = {
    "open": "opens files",
    **{name: "waits for the user at the terminal" for name in ("input", "help")},
    **{name: "pages text and waits for the user" for name in ("license", "credits", "copyright")},
}
_HOST_ATTRIBUTE_NAMES = {
    "unlink": "deletes files",
    "rmdir": "deletes directories",
    "rmtree": "deletes directories",
    "write_text": "writes files",
    "write_bytes": "writes files",
    "touch": "creates files",
    "symlink_to": "creates links",
    "hardlink_to": "creates links",
    "read_text": "reads files",
    "read_bytes": "reads files",
}
_HOST_METHODS = {"open": "opens files"}
"""Method names refused when called on anything (``Path(p).open()``), but not as strings."""


@dataclass(frozen=True)
class _Policy:
    modules: dict[str, str]
    attributes: dict[str, str]
    names: dict[str, str]
    attribute_names: dict[str, str]
    methods: dict[str, str] = field(default_factory=dict)


_ESCAPES = _Policy(_MODULES, _ATTRIBUTES, _NAMES, _DUNDERS_AND_FRAMES)
_IN_HOST = _Policy(
    {**_MODULES, **_HOST_MODULES},
    {**_ATTRIBUTES, **_HOST_ATTRIBUTES},
    {**_NAMES, **_HOST_NAMES},
    {**_DUNDERS_AND_FRAMES, **_HOST_ATTRIBUTE_NAMES},
    _HOST_METHODS,
)


def forbidden_uses(
    source: str | ast.AST, *, in_host: bool = False, names: Mapping[str, str] | None = None
) -> list[str]:
    """Each use in ``source`` of the interpreter's escape hatches, as ``"name: why"``, in order.

    Refused: the modules atexit, builtins, gc, inspect, time, timeit, resource,
    signal, ctypes, importlib, faulthandler, pickle, marshal and posix;
    ``sys.exit``, ``sys.modules``,
    frame access (``sys._getframe``, ``f_back``, ``f_globals``, ``__globals__``,
    ``__code__``, ...), ``os._exit`` and the other ways to end or fork the
    process; ``exit``/``quit``/``SystemExit``/``KeyboardInterrupt`` and the other
    exceptions that escape ``except Exception``; ``eval``, ``exec``, ``compile``,
    ``__import__``, ``globals`` and ``vars`` (even as local names: the check does not
    follow scopes); ``__self__``, ``__subclasses__``, ``__dict__`` and
    ``__getattribute__``; ``operator.attrgetter``/``methodcaller`` and building
    functions from code objects (``types.FunctionType``); those attribute names
    written as strings (``getattr(f, "__globals__")``); and ``getattr`` (and its
    kin) computing an attribute of sys, os or builtins. Aliases (``import time as t``, ``from os import _exit``) are
    followed. An empty list means none was found; it is a static check that a
    sandbox backs up, not a proof of safety. Source that does not parse has no
    uses (it is refused for not parsing).

    ``in_host=True`` is for code that will run in this process rather than in a
    sandbox: it also refuses touching files, processes or the network
    (``open``, ``io.open``, ``.open()``, ``os.remove``, ``os.system``, ``shutil``,
    ``subprocess``, ``socket``, ``tempfile``, ``.unlink()``, ``.write_text()``,
    ``.read_text()``, ...), reading the environment (``os.environ``: API keys)
    and starting threads (``threading``) and waiting at the terminal (``input``, ``help``).

    ``names`` maps names the code can use without importing them (the globals it
    will run in) to the dotted names of what they are (``{"run": "subprocess.run"}``,
    see :func:`names_in`); the usual module names (``os``, ``sys``, ``subprocess``,
    ...) are presumed to be those modules unless the code imports them otherwise.
    """
    return [text for _, text in _found(source, in_host, _frozen(names))]


def added_forbidden_uses(
    source: str | ast.AST,
    original: str | ast.AST,
    *,
    in_host: bool = False,
    names: Mapping[str, str] | None = None,
) -> list[str]:
    """The :func:`forbidden_uses` of ``source`` whose kind ``original`` does not use already.

    A function that reads the clock may go on reading it (``time.monotonic`` in
    the original allows ``time.time`` in a rewrite); one that did not may not start.
    """
    frozen = _frozen(names)
    allowed = {key for key, _ in _found(original, in_host, frozen)}
    return [text for key, text in _found(source, in_host, frozen) if key not in allowed]


def names_in(namespace: Mapping[str, Any], used: Iterable[str]) -> dict[str, str]:
    """The dotted names of the modules, functions and classes that the ``used`` names
    stand for in ``namespace`` (``{"system": "posix.system"}``), for ``names=``."""
    found = {}
    for name in used:
        value = namespace.get(name)
        if isinstance(value, types.ModuleType):
            found[name] = value.__name__
        elif callable(value):
            module = getattr(value, "__module__", None)
            qualname = getattr(value, "__qualname__", None)
            if isinstance(module, str) and isinstance(qualname, str):
                found[name] = f"{module}.{qualname}"
    return found


def _frozen(names: Mapping[str, str] | None) -> tuple[tuple[str, str], ...]:
    return tuple(sorted((names or {}).items()))


def _found(
    source: str | ast.AST, in_host: bool, names: tuple[tuple[str, str], ...] = ()
) -> tuple[tuple[str, str], ...]:
    """``(kind, "name: why")`` of each forbidden use, without repeats."""
    if isinstance(source, str):
        return _found_in_text(source, in_host, names)
    nodes = list(ast.walk(source))
    policy = _IN_HOST if in_host else _ESCAPES
    aliases = _module_aliases(nodes, {**_presumed(policy), **dict(names)})
    found = itertools.chain(_uses(nodes, aliases, policy), _named_uses(nodes, dict(names), policy))
    return tuple(dict.fromkeys(found))


@functools.lru_cache(maxsize=64)
def _found_in_text(
    source: str, in_host: bool, names: tuple[tuple[str, str], ...] = ()
) -> tuple[tuple[str, str], ...]:
    """:func:`_found` of source text (an original is asked about at every proposal)."""
    try:
        return _found(ast.parse(source), in_host, names)
    except (SyntaxError, ValueError):
        return ()


def _named_uses(
    nodes: list[ast.AST], names: dict[str, str], policy: _Policy
) -> Iterator[tuple[str, str]]:
    """Uses of names the code runs with but did not import (``run`` standing for
    ``subprocess.run``) that the policy refuses; a name the code imports or assigns
    itself is its own."""
    own = {n.id for n in nodes if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)}
    own |= {
        a.asname or a.name.split(".")[0]
        for n in nodes
        if isinstance(n, (ast.Import, ast.ImportFrom))
        for a in n.names
    }
    for node in nodes:
        if isinstance(node, ast.Name) and node.id in names and node.id not in own:
            rule = _module_rule(names[node.id], policy)
            if rule:
                yield rule


def _presumed(policy: _Policy) -> dict[str, str]:
    """Module names a policy knows, each presumed to be that module when used unimported
    (``os.system(...)`` in code that runs where ``os`` is imported already)."""
    tops = {name.split(".")[0] for name in [*policy.modules, *policy.attributes]}
    return {top: top for top in tops}


def module_patches(source: ast.AST, names: Mapping[str, str] | None = None) -> list[str]:
    """Assignments to (or deletions of) an attribute of a module in ``source``, as
    ``"name: why"``: run in this process, they change that module for every caller.
    ``names`` as for :func:`forbidden_uses`."""
    nodes = list(ast.walk(source))
    aliases = _module_aliases(nodes, {**_presumed(_IN_HOST), **dict(names or {})})
    return list(dict.fromkeys(text for _, text in _module_patches(nodes, aliases)))


def _module_patches(nodes: list[ast.AST], aliases: dict[str, str]) -> Iterator[tuple[str, str]]:
    for node in nodes:
        if isinstance(node, (ast.Assign, ast.Delete)):
            targets = node.targets
        elif isinstance(node, (ast.AugAssign, ast.AnnAssign)):
            targets = [node.target]
        else:
            continue
        for target in targets:
            for part in ast.walk(target):
                dotted = _dotted(part, aliases) if isinstance(part, ast.Attribute) else None
                if dotted and isinstance(part.ctx, (ast.Store, ast.Del)):
                    yield (
                        f"patch {dotted}",
                        f"{dotted} = ...: changes a module for every caller in this process",
                    )


SAFE_IMPORTS = frozenset(
    [
        "array",
        "base64",
        "binascii",
        "bisect",
        "calendar",
        "cmath",
        "collections",
        "copy",
        "dataclasses",
        "datetime",
        "decimal",
        "difflib",
        "enum",
        "fnmatch",
        "fractions",
        "functools",
        "graphlib",
        "hashlib",
        "heapq",
        "html",
        "itertools",
        "json",
        "keyword",
        "math",
        "numbers",
        "operator",
        "pprint",
        "random",
        "re",
        "reprlib",
        "statistics",
        "string",
        "struct",
        "textwrap",
        "typing",
        "unicodedata",
        "zlib",
    ]
)
"""Standard modules that only compute: code running in this process may import them."""


def unloaded_imports(source: ast.AST, loaded: Collection[str]) -> list[str]:
    """The imports in ``source`` of modules that are neither in ``loaded`` (the modules
    this process has imported already) nor :data:`SAFE_IMPORTS`, as ``"name: why"``:
    importing them would run their code here (``import antigravity`` starts a browser)."""
    found = []
    for node in ast.walk(source):
        if isinstance(node, ast.Import):
            modules = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            modules = [node.module or ""] if not node.level else ["." * node.level]
        else:
            continue
        for module in modules:
            top = module.split(".")[0]
            if module not in loaded and top not in SAFE_IMPORTS:
                found.append(
                    f"import {module}: a module this process has not loaded (importing it "
                    "runs its code here; import it in your program first)"
                )
    return list(dict.fromkeys(found))


def refusal(uses: list[str], what: str = "the new code") -> str:
    """The one-line reason for refusing code with these forbidden ``uses``."""
    return (
        f"{what} uses what proposed code may not: {'; '.join(uses)}. "
        "Write the function with plain computation instead"
    )


def _module_aliases(nodes: list[ast.AST], given: dict[str, str] | None = None) -> dict[str, str]:
    """Local name -> dotted name it stands for, from every import among ``nodes`` (which
    take precedence over the ``given`` ones)."""
    aliases: dict[str, str] = dict(given or {})
    for node in nodes:
        if isinstance(node, ast.Import):
            for a in node.names:
                if a.asname:
                    aliases[a.asname] = a.name
                else:
                    top = a.name.split(".")[0]
                    aliases[top] = top
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            for a in node.names:
                if a.name != "*":
                    aliases[a.asname or a.name] = f"{node.module}.{a.name}"
    return aliases


def _dotted(node: ast.expr, aliases: dict[str, str]) -> str | None:
    """``a.b.c`` for an attribute chain rooted at an imported name, else ``None``."""
    parts: list[str] = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name) and node.id in aliases:
        return ".".join([aliases[node.id], *reversed(parts)])
    return None


def _module_rule(dotted: str, policy: _Policy) -> tuple[str, str] | None:
    if "__main__" in dotted.split("."):
        return "__main__", f"{dotted}: runs or reaches a program's main code"
    top = dotted.split(".")[0]
    if top in policy.modules:
        return top, f"{dotted}: {policy.modules[top]}"
    for name, why in policy.attributes.items():
        if dotted == name or dotted.startswith(name + "."):
            return name, f"{name}: {why}"
    return None


def _uses(
    nodes: list[ast.AST], aliases: dict[str, str], policy: _Policy
) -> Iterator[tuple[str, str]]:
    attribute_names = policy.attribute_names
    for node in nodes:
        if isinstance(node, ast.Import):
            for a in node.names:
                rule = _module_rule(a.name, policy)
                if rule:
                    yield rule
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            rule = _module_rule(node.module, policy)
            if rule:
                yield rule
            for a in node.names:
                rule = _module_rule(f"{node.module}.{a.name}", policy)
                if rule:
                    yield rule
        elif isinstance(node, ast.Attribute):
            if node.attr in attribute_names:
                yield node.attr, f"{node.attr}: {attribute_names[node.attr]}"
            elif node.attr in policy.methods:
                yield f".{node.attr}", f".{node.attr}(): {policy.methods[node.attr]}"
            dotted = _dotted(node, aliases)
            rule = _module_rule(dotted, policy) if dotted else None
            if rule:
                yield rule
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load):
            if node.id in policy.names and node.id not in aliases:
                yield node.id, f"{node.id}: {policy.names[node.id]}"
        elif (
            isinstance(node, ast.Constant)
            and isinstance(node.value, str)
            and node.value in attribute_names
        ):
            yield node.value, f"{node.value}: {attribute_names[node.value]}"
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            yield from _attribute_call(node, aliases, policy)


def _attribute_call(
    call: ast.Call, aliases: dict[str, str], policy: _Policy
) -> Iterator[tuple[str, str]]:
    if call.func.id not in _ATTRIBUTE_CALLS or len(call.args) < 2:
        return
    target, attribute = call.args[0], call.args[1]
    base = _dotted(target, aliases)
    if isinstance(attribute, ast.Constant) and isinstance(attribute.value, str):
        rule = _module_rule(f"{base}.{attribute.value}", policy) if base else None
        if rule:
            yield rule
    elif base and base.split(".")[0] in _DYNAMIC_BASES:
        top = base.split(".")[0]
        yield (
            f"{call.func.id}({top})",
            f"{call.func.id}({base}, ...): reaches an attribute of {base} by a computed name",
        )
