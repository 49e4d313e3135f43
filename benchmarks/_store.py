"""Finished evaluations kept per sequence, in chunks that several processes can share.

A yardstick evaluation of 1280 sequences takes minutes to over an hour per tracker on a CPU.
Results are stored one JSON file per chunk of sequences, so

- an interrupted run resumes at the chunk it stopped in;
- a second process started on the same benchmark (``yardstick(order=-1)``, which walks the
  work in reverse) takes the chunks the first has not reached, and the two meet in the
  middle. A chunk being computed is *claimed* by a file holding its process id; a claim
  whose process is gone is taken over.

Each record holds, per sequence, the IoU summed over its scored frames (``sums``), how many
frames were scored (``counts``) and how many of them had IoU >= 0.5 (``hits``), so any
subset of sequences can be re-scored with its interval without tracking again.
"""
from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

CHUNK = 64  # sequences per stored record
POLL_SECONDS = 2.0  # how often a process waiting on another's claim looks again


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's live process
        return True
    return True


class ResultStore:
    """Finished results, one JSON file per key; a key being computed is claimed by one process."""

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)

    def path(self, key: dict) -> Path:
        name = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]
        return self.folder / f"{name}.json"

    def get(self, key: dict, needs: Sequence[str] = ()) -> dict | None:
        path = self.path(key)
        if not path.is_file():
            return None
        record = json.loads(path.read_text())
        return record if all(field in record for field in needs) else None  # older records lack new fields

    def _claim(self, path: Path) -> bool:
        claim = path.with_suffix(".claim")
        while True:
            try:
                fd = os.open(claim, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
            except FileExistsError:
                try:
                    owner = int(claim.read_text() or "0")
                except (OSError, ValueError):
                    owner = 0  # being written this instant, or unreadable: look again later
                if owner and not _alive(owner):
                    claim.unlink(missing_ok=True)  # its process died: take it over
                    continue
                return False
            with os.fdopen(fd, "w") as handle:
                handle.write(str(os.getpid()))
            return True

    def get_or_run(self, key: dict, run: Callable[[], dict], *, needs: Sequence[str] = ()) -> dict:
        """The stored result of ``key``, or ``run()``'s, stored; waits while another process computes it."""
        path = self.path(key)
        while True:
            found = self.get(key, needs)
            if found is not None:
                return found
            if self._claim(path):
                break
            time.sleep(POLL_SECONDS)
        try:
            found = self.get(key, needs)  # finished between the look and the claim
            if found is not None:
                return found
            result = run()
            tmp = path.with_suffix(f".{os.getpid()}.tmp")
            tmp.write_text(json.dumps({"key": key, **result}))
            tmp.replace(path)
            return result
        finally:
            path.with_suffix(".claim").unlink(missing_ok=True)


def totals(result) -> dict:
    """An EvalResult's per-sequence numbers and its overall AO / SR0.5."""
    sums, counts = result.frame_totals()
    hits = [m.sr50 * m.frames if m.frames else 0.0 for m in result.sequences.values()]
    return {"ao": float(result.ao), "sr50": float(result.sr50), "sums": sums.tolist(), "counts": counts.tolist(),
            "hits": [float(h) for h in hits]}


def merged(parts: Sequence[dict]) -> dict:
    """Per-sequence records of consecutive chunks as one record (AO and SR0.5 pooled over frames)."""
    if len(parts) == 1:
        return dict(parts[0])
    sums = [v for p in parts for v in p["sums"]]
    counts = [v for p in parts for v in p["counts"]]
    hits = [v for p in parts for v in p["hits"]]
    return _scored(sums, counts, hits)


def _scored(sums, counts, hits) -> dict:
    frames = float(np.sum(counts))
    return {"ao": float(np.sum(sums) / frames) if frames else 0.0, "sr50": float(np.sum(hits) / frames) if frames else 0.0,
            "sums": list(sums), "counts": list(counts), "hits": list(hits)}


def first(record: dict, n: int) -> dict:
    """The record of the first ``n`` sequences only."""
    return _scored(record["sums"][:n], record["counts"][:n], record["hits"][:n])


def chunked_totals(store: ResultStore, identity: dict, sequences: Sequence, evaluate_chunk: Callable[[list], dict],
                   *, order: int = 1, chunk: int = CHUNK) -> dict:
    """``evaluate_chunk(sequences) -> totals`` over ``sequences`` a chunk at a time, each chunk stored.

    ``order`` -1 walks the chunks last to first (a second process sharing the work).
    """
    chunks = [list(sequences[i:i + chunk]) for i in range(0, len(sequences), chunk)]
    parts: list[dict | None] = [None] * len(chunks)
    for i in (range(len(chunks)) if order >= 0 else reversed(range(len(chunks)))):
        part = chunks[i]
        key = {**identity, "sequences": [s.name for s in part]}
        parts[i] = store.get_or_run(key, lambda part=part: evaluate_chunk(part), needs=("hits",))
    return merged(parts)
