"""``trace-engine cache stats|clear``: inspect or empty the disk cache of completions."""

from __future__ import annotations

import argparse
import json

from workflows.commands.common import check_cache, general_options


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "cache",
        parents=[general_options()],
        help="show or clear the disk cache of LLM completions",
        description="Show statistics of, or clear, the disk cache of LLM completions "
        "(location: --dir, else $TRACE_ENGINE_CACHE_DIR, else the user cache directory).",
    )
    parser.add_argument("action", choices=("stats", "clear"), help="what to do")
    parser.add_argument("--dir", dest="directory", help="cache directory to use")
    parser.add_argument("--json", action="store_true", help="print stats as JSON")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from trace_engine.llm.cache import cache_stats, clear_cache

    directory = check_cache(args.directory)
    if args.action == "clear":
        removed = clear_cache(directory)
        print(f"removed {removed} cached completion(s) from {directory}")
        return 0
    stats = cache_stats(directory)
    if args.json:
        print(json.dumps(stats, indent=2))
        return 0
    print(f"directory: {stats['directory']}")
    print(f"entries:   {stats['entries']}")
    if stats["unreadable"]:
        print(f"unreadable: {stats['unreadable']} (not JSON written by trace-engine; ignored)")
    print(f"size:      {stats['size_bytes'] / 1e6:.2f} MB")
    for llm, count in stats["by_llm"].items():
        print(f"  {llm}: {count}")
    return 0
