"""``trace-engine graph FILE.json``: render a saved trace as DOT, SVG, PNG or JSON."""

from __future__ import annotations

import argparse
from pathlib import Path

from trace_engine.errors import GraphError
from trace_engine.files import atomic_write_bytes
from trace_engine.graph import from_json, render, to_dot, to_json
from workflows.cli import UsageError
from workflows.commands.common import general_options

FORMATS = {".dot": "dot", ".gv": "dot", ".svg": "svg", ".png": "png", ".json": "json"}


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "graph",
        parents=[general_options()],
        help="render a saved trace (JSON from trace_engine.to_json) as DOT, SVG, PNG or JSON",
        description="Render a trace saved with trace_engine.to_json() as Graphviz DOT, SVG or "
        "PNG (these two need Graphviz's `dot`), or check and rewrite it as JSON.",
    )
    parser.add_argument("file", type=Path, help="trace JSON file")
    parser.add_argument(
        "--format",
        choices=sorted(set(FORMATS.values())),
        default=None,
        help="output format (default: from the suffix of -o, else dot)",
    )
    parser.add_argument(
        "-o",
        "--output",
        type=Path,
        help="write here instead of standard output (.dot, .gv, .svg, .png or .json)",
    )
    parser.set_defaults(handler=run)


def output_format(requested: str | None, output: Path | None) -> str:
    """The format to write: ``--format``, else the one ``-o``'s suffix names, else DOT;
    a suffix that names no format, or another than ``--format``, is refused."""
    if output is None:
        if requested == "png":
            raise UsageError("--format png writes binary data: give -o FILE.png")
        return requested or "dot"
    implied = FORMATS.get(output.suffix.lower())
    if implied is None:
        raise UsageError(
            f"-o {output}: cannot tell the format from {output.suffix or 'a missing suffix'}; "
            f"name the file with one of {', '.join(FORMATS)}"
        )
    if requested and requested != implied:
        raise UsageError(f"--format {requested} does not match -o {output} (a .{implied} file)")
    return implied


def run(args: argparse.Namespace) -> int:
    fmt = output_format(args.format, args.output)
    try:
        text = args.file.read_text(encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"cannot read {args.file}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise UsageError(f"{args.file} is not a saved trace: it is not UTF-8 text") from None
    try:
        saved = from_json(text)
        if fmt in ("svg", "png"):
            data = render(saved, fmt)
        else:
            data = (to_json(saved) + "\n" if fmt == "json" else to_dot(saved)).encode("utf-8")
    except GraphError as exc:
        raise UsageError(f"{args.file}: {exc}") from None
    except RecursionError:
        raise UsageError(
            f"{args.file} is not a saved trace: its JSON is nested too deeply"
        ) from None
    except (TypeError, ValueError, KeyError, AttributeError) as exc:
        raise UsageError(
            f"{args.file} is not a saved trace: an entry is malformed ({type(exc).__name__}: {exc})"
        ) from None
    if args.output:
        atomic_write_bytes(args.output, data)
        print(f"wrote {args.output} ({fmt}, {len(saved)} nodes)")
    else:
        print(data.decode("utf-8"), end="")
    return 0
