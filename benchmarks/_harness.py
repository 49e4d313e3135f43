"""Running benchmarks and writing their results as JSON + markdown."""
from __future__ import annotations

import hashlib
import json
import os
import platform
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch

RESULTS = Path(__file__).parent / "results"


def weights_fingerprint(model) -> str:
    """A short hash of a model's weights: cached benchmark results stay valid only for the same parent."""
    digest = hashlib.sha256()
    for key, value in sorted(model.state_dict().items()):
        digest.update(key.encode())
        digest.update(value.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()[:16]


def machine() -> dict:
    return {"python": platform.python_version(), "torch": torch.__version__, "cpu_count": os.cpu_count(),
            "processor": platform.processor() or platform.machine()}


def markdown(name: str, result: dict) -> str:
    lines = [f"# {result['title']}", "", f"Command: `{result['command']}`  ", f"Run time: {result['seconds']:.0f} s on "
             f"{result['machine']['cpu_count']} CPU cores (torch {result['machine']['torch']}){' — quick mode' if result['quick'] else ''}", ""]
    cols = result["columns"]
    lines.append("| " + " | ".join(cols) + " |")
    lines.append("|" + "---|" * len(cols))
    for row in result["rows"]:
        lines.append("| " + " | ".join(_fmt(row.get(c)) for c in cols) + " |")
    if result.get("goals"):
        lines += ["", "## Goals", ""]
        for goal in result["goals"]:
            status = "met" if goal["met"] else "missed"
            lines.append(f"- **{status}** — {goal['text']}: measured {goal['measured']}")
    if result.get("notes"):
        lines += ["", "## Notes", ""] + [f"- {n}" for n in result["notes"]]
    return "\n".join(lines) + "\n"


def _fmt(v) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    return "-" if v is None else str(v)


def run_benchmark(name: str, fn: Callable[[bool], dict], *, quick: bool, out_dir: Path = RESULTS, device: str = "cpu") -> dict:
    """``device`` reaches the benchmarks that fine-tune (a ``device`` parameter); latencies are CPU measurements."""
    import inspect

    torch.set_num_threads(1)
    start = time.perf_counter()
    takes_device = "device" in inspect.signature(fn).parameters
    result = fn(quick, device=device) if takes_device else fn(quick)
    on = f"--device {device} " if takes_device and device != "cpu" else ""
    result.update(seconds=time.perf_counter() - start, quick=quick, machine=machine(),
                  command="python -m benchmarks " + ("--quick " if quick else "") + on + name)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / f"{name}.json").write_text(json.dumps(result, indent=2, default=str))
    (out_dir / f"{name}.md").write_text(markdown(name, result))
    return result


def _main(argv: list[str] | None = None) -> int:
    import argparse

    from benchmarks import suite

    parser = argparse.ArgumentParser(prog="python -m benchmarks", description="run autoprune's benchmarks")
    parser.add_argument("names", nargs="*", help=f"benchmarks to run (default all): {', '.join(suite.BENCHMARKS)}; "
                        "or `gpu`: the GPU check (make gpu-check)")
    parser.add_argument("--quick", action="store_true", help="tiny sizes: checks the harness, not the numbers")
    parser.add_argument("--out", default=str(RESULTS), help="results directory")
    parser.add_argument("--device", default="cpu", help="where fine-tunes run: cpu, cuda, cuda:N or auto (default cpu; "
                        "latency benchmarks always time the CPU)")
    args = parser.parse_args(argv)
    if args.names == ["gpu"]:
        from benchmarks.gpu import gpu_check

        return gpu_check(Path(args.out))
    from autoprune.device import resolve_device
    from autoprune.errors import ConfigError

    try:
        device = resolve_device(args.device)
    except ConfigError as exc:
        parser.exit(2, f"{parser.prog}: error: {exc}\n")
    unknown = [n for n in args.names if n not in suite.BENCHMARKS]
    if unknown:
        parser.error(f"unknown benchmark(s) {', '.join(unknown)}; valid: {', '.join(suite.BENCHMARKS)}")
    for name in args.names or list(suite.BENCHMARKS):
        result = run_benchmark(name, suite.BENCHMARKS[name], quick=args.quick, out_dir=Path(args.out), device=device)
        print(markdown(name, result))
    return 0


if __name__ == "__main__":
    sys.exit(_main())
