"""python -m gate_agent eval ... -> plate-reader evaluation; everything else -> the lane CLI
(run, check-config, render-demo-plates)."""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args and args[0] == "eval":
        from gate_agent.reading.eval import main as eval_main

        return int(eval_main(args[1:]) or 0)
    from gate_agent.cli import main as cli_main

    return cli_main(args)


if __name__ == "__main__":
    raise SystemExit(main())
