"""Disk cache of completions, shared by threads and processes (``diskcache``).

The key of one sample is the SHA-256 of a canonical JSON of the model's
fingerprint (backend, model, server or weights), the messages and every option
that changes the answer, plus the sample's index. Each of the ``n`` samples is
stored under its own index, so asking for more samples later reuses the ones
already drawn; with ``temperature > 0`` and a ``seed``, sample ``i`` is always
drawn as a single sample with seed ``seed + i``, so a rerun is reproducible
whether or not parts of it were cached. At ``temperature == 0`` the seed is not
part of the key (greedy decoding ignores it).

Failed calls are never stored, and neither is a sample that was asked to be JSON
but did not parse.

Keys and entries are stored as JSON, never pickled, so opening a cache
directory someone sent you runs none of their code: a row written any other way
(by diskcache's default pickling, say) reads as a miss and is left alone; its
sample is asked for again and stored as JSON.

Location: ``directory`` argument, else ``$TRACE_ENGINE_CACHE_DIR``, else the
platform's user cache directory (``.../trace-engine/completions``). Several
processes may share one directory (diskcache's SQLite transactions); a cached LLM
sent to a Ray worker opens the same directory when one was given, else the
worker's own default, so each node of a cluster keeps its own cache with the same keys.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import stat
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from trace_engine.llm.base import LLM, Completion, Message, Usage, normalize_messages
from trace_engine.llm.errors import LLMError, require
from trace_engine.llm.meter import Meter, get_meter
from trace_engine.llm.wrapper import LLMWrapper

KEY_VERSION = 1
_open: dict[str, Any] = {}
_open_lock = threading.Lock()


def default_cache_dir() -> Path:
    """``$TRACE_ENGINE_CACHE_DIR`` or the user cache directory's ``completions`` folder."""
    env = os.environ.get("TRACE_ENGINE_CACHE_DIR")
    if env:
        return Path(env).expanduser()
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("trace-engine", appauthor=False)) / "completions"


def open_cache(directory: str | os.PathLike | None = None):
    """The process's one ``diskcache.Cache`` for ``directory`` (opened on first use), storing JSON."""
    path = str(Path(directory).expanduser() if directory else default_cache_dir())
    with _open_lock:
        cache = _open.get(path)
        if cache is None:
            diskcache = require("diskcache", package="diskcache")
            try:
                cache = diskcache.Cache(path, disk=_json_disk())
            except (OSError, sqlite3.Error, TypeError, ValueError) as exc:
                raise CacheUnusable(
                    f"{path} is not a usable completion cache ({type(exc).__name__}: {exc}); "
                    "point --dir or $TRACE_ENGINE_CACHE_DIR at another directory"
                ) from None
            _open[path] = cache
        return cache


class CacheUnusable(LLMError):
    """A cache directory that cannot be opened (not a directory, not a cache, no access)."""


def _json_disk() -> type:
    """A ``diskcache.Disk`` that writes keys and values as JSON and reads nothing else.

    diskcache's own ``JSONDisk`` still unpickles a row whose stored mode says
    pickle; this one reads such a row (or anything that is not JSON) as absent.
    """
    global _JSONOnlyDisk
    if _JSONOnlyDisk is not None:
        return _JSONOnlyDisk
    from diskcache.core import MODE_BINARY, MODE_RAW, UNKNOWN, Disk

    class JSONOnlyDisk(Disk):
        def put(self, key):
            return super().put(_to_json(key))

        def get(self, key, raw):
            return _from_json(key) if raw else None

        def store(self, value, read, key=UNKNOWN):
            if read:
                raise ValueError("the completion cache stores JSON values, not files")
            return super().store(_to_json(value), False, key=key)

        def fetch(self, mode, filename, value, read):
            if read or mode not in (MODE_RAW, MODE_BINARY):
                return None
            if filename is not None and not _own_file(self._directory, filename):
                return None
            return _from_json(super().fetch(mode, filename, value, False))

    _JSONOnlyDisk = JSONOnlyDisk
    return JSONOnlyDisk


_JSONOnlyDisk: type | None = None
MAX_STORED_FILE = 64 * 1024 * 1024


def _own_file(directory: str, filename: Any) -> bool:
    """Whether a row's ``filename`` names a regular file of reasonable size inside the
    cache ``directory`` (a row someone wrote could name /dev/zero, a FIFO or any file)."""
    if not isinstance(filename, str) or os.path.isabs(filename) or ".." in Path(filename).parts:
        return False
    path = os.path.join(directory, filename)
    if not os.path.realpath(path).startswith(os.path.join(os.path.realpath(directory), "")):
        return False
    try:
        info = os.lstat(path)
    except OSError:
        return False
    return stat.S_ISREG(info.st_mode) and info.st_size <= MAX_STORED_FILE


def _to_json(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def _from_json(data: Any) -> Any:
    """The JSON value in ``data`` (bytes), or ``None`` when it is anything else."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        return None
    try:
        return json.loads(bytes(data).decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        return None


def cache_key(fingerprint: str, messages: Sequence[Message], sample: int, **options: Any) -> str:
    """SHA-256 hex key of one sample of one request."""
    temperature = float(options.get("temperature") or 0.0)
    payload = {
        "v": KEY_VERSION,
        "llm": fingerprint,
        "messages": [[m["role"], m["content"]] for m in messages],
        "temperature": temperature,
        "max_tokens": options.get("max_tokens"),
        "seed": options.get("seed") if temperature > 0 else None,
        "stop": list(options.get("stop") or []),
        "json_schema": options.get("json_schema"),
        "sample": sample,
    }
    blob = json.dumps(payload, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


class Cached(LLMWrapper):
    """Serves repeated requests from disk; see the module docstring for the rules.

    A full hit returns a ``Completion`` with ``cached=True`` in well under a
    millisecond and is reported to the meter as a cache hit (it is not a call
    and spends nothing, so budgets are not charged).
    """

    def __init__(
        self,
        inner: LLM,
        directory: str | os.PathLike | None = None,
        meter: Meter | None = None,
    ):
        super().__init__(inner)
        self.directory = Path(directory).expanduser() if directory else default_cache_dir()
        self._chosen = directory is not None
        self.meter = meter
        self._cache = open_cache(self.directory)

    def __getstate__(self) -> dict[str, Any]:
        """Sent to another process (a Ray worker) without the open cache: it opens its own,
        the same directory when one was given, else its own default one (each node of a
        cluster keeps its cache; the keys are the same everywhere)."""
        state = {k: v for k, v in self.__dict__.items() if k != "_cache"}
        if not self._chosen:
            state["directory"] = None
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        if self.directory is None:
            self.directory = default_cache_dir()
        self._cache = open_cache(self.directory)

    def complete(self, messages: str | Sequence[Message], **options: Any) -> Completion:
        start = time.perf_counter()
        msgs, n, keys, found = self._lookup(messages, options)
        for indices, call_options in self._plan(found, n, options):
            self._store(indices, keys, found, self.inner.complete(msgs, **call_options), options)
        return self._assemble(found, start, options.get("json_schema") is not None)

    async def acomplete(self, messages: str | Sequence[Message], **options: Any) -> Completion:
        start = time.perf_counter()
        msgs, n, keys, found = self._lookup(messages, options)
        for indices, call_options in self._plan(found, n, options):
            result = await self.inner.acomplete(msgs, **call_options)
            self._store(indices, keys, found, result, options)
        return self._assemble(found, start, options.get("json_schema") is not None)

    def _lookup(self, messages, options):
        msgs = normalize_messages(messages)
        n = int(options.get("n", 1))
        if n < 1:
            raise ValueError(f"n must be >= 1, got {n}")
        fingerprint = self.fingerprint
        keys = [cache_key(fingerprint, msgs, i, **options) for i in range(n)]
        found = [_entry(self._cache.get(k, retry=True)) for k in keys]
        return msgs, n, keys, found

    @staticmethod
    def _plan(found: list, n: int, options: dict) -> list[tuple[list[int], dict]]:
        """Which inner calls fill the missing samples, with which options."""
        missing = [i for i in range(n) if found[i] is None]
        if not missing:
            return []
        seed = options.get("seed")
        if (options.get("temperature") or 0) > 0 and seed is not None:
            return [([i], {**options, "n": 1, "seed": seed + i}) for i in missing]
        return [(missing, {**options, "n": len(missing)})]

    def _store(self, indices, keys, found, result: Completion, options: dict) -> None:
        if len(result.texts) < len(indices):
            raise LLMError(
                f"asked for {len(indices)} samples, got {len(result.texts)}", backend=self.id
            )
        k = len(indices)
        schema = options.get("json_schema") is not None
        for j, i in enumerate(indices):
            parsed = result.parsed[j] if result.parsed else None
            entry = {
                "text": result.texts[j],
                "parsed": parsed,
                "prompt_tokens": _share(result.usage.prompt_tokens, k, j),
                "completion_tokens": _share(result.usage.completion_tokens, k, j),
                "cost": result.cost / k,
                "llm": self.id,
                "created": time.time(),
            }
            if not (schema and parsed is None):
                self._cache.set(keys[i], entry, retry=True)
            found[i] = {**entry, "hit": False}

    def _assemble(self, found: list[dict], start: float, schema: bool) -> Completion:
        hit = all(e["hit"] for e in found)
        if hit:
            (self.meter or get_meter()).record_hit(self.id)
        return Completion(
            texts=[e["text"] for e in found],
            usage=Usage(
                sum(e["prompt_tokens"] for e in found),
                sum(e["completion_tokens"] for e in found),
            ),
            cost=sum(e["cost"] for e in found),
            latency=time.perf_counter() - start,
            backend=self.backend,
            model=self.model,
            cached=hit,
            parsed=[e["parsed"] for e in found] if schema else None,
        )


def _entry(value: Any) -> dict | None:
    """A stored sample as a hit, or ``None`` when ``value`` is not one (a miss)."""
    if not isinstance(value, dict) or not isinstance(value.get("text"), str):
        return None
    numbers = (value.get(k) for k in ("prompt_tokens", "completion_tokens", "cost"))
    if not all(isinstance(n, (int, float)) and not isinstance(n, bool) for n in numbers):
        return None
    return {**value, "hit": True}


def _share(total: int, parts: int, index: int) -> int:
    """Split ``total`` into ``parts`` integers; the first ones take the remainder."""
    return total // parts + (1 if index < total % parts else 0)


def cache_stats(directory: str | os.PathLike | None = None) -> dict[str, Any]:
    """Directory, number of stored samples, bytes on disk and samples per model
    (``unreadable``: rows that are not this cache's JSON, which lookups ignore)."""
    cache = open_cache(directory)
    by_llm: dict[str, int] = {}
    unreadable = 0
    for key in cache.iterkeys():
        entry = _entry(cache.get(key, retry=True)) if key is not None else None
        if entry is not None:
            by_llm[entry.get("llm", "?")] = by_llm.get(entry.get("llm", "?"), 0) + 1
        else:
            unreadable += 1
    return {
        "directory": str(cache.directory),
        "entries": len(cache),
        "unreadable": unreadable,
        "size_bytes": cache.volume(),
        "by_llm": dict(sorted(by_llm.items())),
    }


def clear_cache(directory: str | os.PathLike | None = None) -> int:
    """Remove every stored completion; returns how many were removed."""
    return open_cache(directory).clear(retry=True)
