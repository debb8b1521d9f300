"""Installed size of trace-engine's core and of each extra, in fresh virtual environments.

Each target is installed into its own new virtual environment in a temporary
folder, from this checkout, with pip; its size is what ``site-packages`` holds
beyond an empty environment's (``du``), and its count the distributions pip lists
beyond pip's own. An extra's own weight is its environment minus the core's.
Sizes are deterministic for a given package index, so one run per target is
enough (no seed, no spread).

    python benchmarks/install_size.py                  # core and the usual extras
    python benchmarks/install_size.py --extras agents plots
    python benchmarks/install_size.py --root OTHER_CHECKOUT --extras   # another version's core
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import venv
from pathlib import Path

HERE = Path(__file__).resolve().parents[1]
DEFAULT_EXTRAS = ("agents", "plots", "humaneval", "litellm", "server", "local", "dev")


def _site_packages(env: Path) -> Path:
    return next((env / "lib").glob("python*/site-packages"))


def _kib(path: Path) -> int:
    out = subprocess.run(["du", "-sk", str(path)], capture_output=True, text=True, check=True)
    return int(out.stdout.split()[0])


def _distributions(env: Path) -> int:
    out = subprocess.run(
        [str(env / "bin" / "python"), "-m", "pip", "list", "--format=json"],
        capture_output=True,
        text=True,
        check=True,
    )
    return sum(1 for d in json.loads(out.stdout) if d["name"] not in ("pip", "setuptools"))


def measure(root: Path, target: str, workdir: Path) -> dict:
    """Install ``root[target]`` (``core``: no extra) into a new environment; its size."""
    env = workdir / target
    venv.EnvBuilder(with_pip=True).create(env)
    empty = _kib(_site_packages(env))
    spec = str(root) if target == "core" else f"{root}[{target}]"
    subprocess.run(
        [str(env / "bin" / "python"), "-m", "pip", "install", "--quiet", spec],
        check=True,
    )
    return {
        "target": target,
        "mib": (_kib(_site_packages(env)) - empty) / 1024,
        "distributions": _distributions(env),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--extras", nargs="*", default=list(DEFAULT_EXTRAS))
    parser.add_argument("--root", type=Path, default=HERE, help="checkout to install")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="trace-engine-size-") as tmp:
        rows = [measure(args.root, t, Path(tmp)) for t in ["core", *args.extras]]
    core = rows[0]
    print("| install | size (MiB) | over the core (MiB) | distributions |")
    print("| --- | ---: | ---: | ---: |")
    for row in rows:
        name = "core" if row is core else f"core + [{row['target']}]"
        extra = "" if row is core else f"{row['mib'] - core['mib']:.0f}"
        print(f"| {name} | {row['mib']:.0f} | {extra} | {row['distributions']} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
