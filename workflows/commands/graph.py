"""``trace-engine graph FILE.json``: render a saved trace as DOT or SVG."""

from __future__ import annotations

import argparse
from pathlib import Path

from trace_engine.errors import GraphError
from trace_engine.files import atomic_write_text
from trace_engine.graph import from_json, render_svg, to_dot
from workflows.cli import UsageError


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "graph",
        help="render a saved trace (JSON from trace_engine.to_json) as DOT or SVG",
        description="Render a trace saved with trace_engine.to_json() as Graphviz DOT or SVG.",
    )
    parser.add_argument("file", type=Path, help="trace JSON file")
    parser.add_argument(
        "--format",
        choices=("dot", "svg"),
        default=None,
        help="output format (default: from -o, else dot)",
    )
    parser.add_argument("-o", "--output", type=Path, help="write here instead of standard output")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    fmt = args.format or ("svg" if args.output and args.output.suffix == ".svg" else "dot")
    try:
        text = args.file.read_text(encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"cannot read {args.file}: {exc.strerror}") from None
    try:
        saved = from_json(text)
        rendered = render_svg(saved) if fmt == "svg" else to_dot(saved)
    except GraphError as exc:
        raise UsageError(f"{args.file}: {exc}") from None
    if args.output:
        atomic_write_text(args.output, rendered)
        print(f"wrote {args.output} ({len(saved)} nodes)")
    else:
        print(rendered, end="")
    return 0
