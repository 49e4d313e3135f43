"""A tracking sequence: frame paths and annotations, images read only when asked for.

Also the small text parsers every dataset reader shares (boxes, per-frame flags, frame
listing) and the checks that tie a box to its file and line.
"""
from __future__ import annotations

import collections.abc
import io
import os
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from autoprune.errors import DataError

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp")


class FrameList(collections.abc.Sequence):
    """Frame paths of one folder, stored as names so 10^6 frames stay cheap to hold."""

    __slots__ = ("folder", "names")

    def __init__(self, folder: Path | str, names: collections.abc.Sequence[str]) -> None:
        self.folder = Path(folder)
        self.names = tuple(names)

    def __len__(self) -> int:
        return len(self.names)

    def __getitem__(self, index):
        if isinstance(index, slice):
            return FrameList(self.folder, self.names[index])
        return self.folder / self.names[index]

    def __eq__(self, other) -> bool:
        return list(self) == list(other) if isinstance(other, collections.abc.Sequence) else NotImplemented

    def __repr__(self) -> str:
        return f"FrameList({str(self.folder)!r}, {len(self)} frames)"


@dataclass
class Sequence:
    """One video of one target.

    ``boxes`` is [N,4] xywh float (NaN rows where the dataset gives none, e.g. GOT-10k test
    after frame 0). ``absent`` marks frames where the target is not visible (GOT-10k
    absence.label, LaSOT full occlusion / out of view). ``cover`` is GOT-10k's visible
    ratio class 0..8 (None where the dataset has none). Frames load lazily.
    ``anno_path`` / ``anno_first_line`` locate frame 0's box in its text file (1-based
    line), so problems found later can name the file and line.
    """

    name: str
    frames: list[Path] | FrameList
    boxes: np.ndarray
    absent: np.ndarray | None = None
    cover: np.ndarray | None = None
    meta: dict[str, str] = field(default_factory=dict)
    anno_path: Path | None = None
    anno_first_line: int = 1

    def __post_init__(self) -> None:
        self.boxes = np.asarray(self.boxes, dtype=np.float64).reshape(-1, 4)
        if self.absent is None:
            self.absent = np.zeros(len(self.boxes), dtype=bool)
        self.absent = np.asarray(self.absent, dtype=bool)

    def __len__(self) -> int:
        return len(self.frames)

    @property
    def visible(self) -> np.ndarray:
        """Frames with a usable box: annotated, not absent, positive size."""
        b = self.boxes
        ok = np.isfinite(b).all(axis=1) & (b[:, 2] > 0) & (b[:, 3] > 0) & ~self.absent
        return ok

    def image(self, index: int) -> np.ndarray:
        """Frame ``index`` as an HxWx3 uint8 RGB array (clear error if unreadable)."""
        return read_rgb(self.frames[index])

    def where(self, index: int) -> str:
        """``file:line`` of frame ``index``'s box, for messages."""
        if self.anno_path is None:
            return f"sequence {self.name} frame {index}"
        return f"{self.anno_path}:{self.anno_first_line + index}"


def _jpeg_truncated(path: Path) -> bool:
    # OpenCV decodes a cut-off JPEG without error (grey below the cut): look for the end marker.
    if path.suffix.lower() not in (".jpg", ".jpeg"):
        return False
    with open(path, "rb") as f:
        f.seek(max(0, f.seek(0, os.SEEK_END) - 1024))
        return b"\xff\xd9" not in f.read()


def read_rgb(path: Path | str) -> np.ndarray:
    """Read an image file as HxWx3 uint8 RGB; DataError naming the file if it cannot be read."""
    path = Path(path)
    data = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if data is None:
        if not path.exists():
            raise DataError(f"image {path}: no such file")
        raise DataError(f"image {path}: unreadable or truncated image file")
    if _jpeg_truncated(path):
        raise DataError(f"image {path}: truncated JPEG (no end marker); re-copy or re-extract the file")
    return cv2.cvtColor(data, cv2.COLOR_BGR2RGB)


# --- listing and parsing -------------------------------------------------------------

def _frame_key(name: str):
    stem = name.rsplit(".", 1)[0]
    # Numeric names sort by value (TrackingNet's 0.jpg, 1.jpg, ..., 10.jpg).
    return (0, int(stem), name) if stem.isdigit() else (1, 0, name)


def list_frames(folder: Path) -> FrameList:
    """Image files of ``folder`` in frame order, with one directory read and no stat calls."""
    try:
        with os.scandir(folder) as entries:
            names = [e.name for e in entries if e.name.lower().endswith(IMAGE_SUFFIXES)]
    except FileNotFoundError:
        raise DataError(f"frame folder {folder} does not exist") from None
    except NotADirectoryError:
        raise DataError(f"frame folder {folder} is a file, not a folder") from None
    names.sort(key=_frame_key)
    return FrameList(folder, names)


def read_text(path: Path | str, *, optional: bool = False) -> str | None:
    """A text file's content; None if ``optional`` and it does not exist."""
    try:
        with open(path, "rb") as f:  # bytes + decode: cheaper than a text wrapper per small file
            return f.read().decode("utf-8", errors="replace")
    except FileNotFoundError:
        if optional:
            return None
        raise DataError(f"annotation file {path} does not exist") from None
    except IsADirectoryError:
        raise DataError(f"annotation file {path} is a folder, not a file") from None


def parse_boxes(text: str, path: Path | str, *, sep: str | None = ",") -> np.ndarray:
    """Rows of ``x,y,w,h`` as an [N,4] float array.

    ``sep=None`` accepts commas, tabs and spaces mixed (OTB). 'nan' entries are allowed.
    A malformed line raises DataError with the file and the 1-based line number.
    """
    body = text.rstrip()
    if not body:
        raise DataError(f"{path}: empty groundtruth file; expected one 'x,y,w,h' line per frame")
    if sep is None:
        body = body.replace(",", " ").replace("\t", " ")
    try:
        boxes = np.loadtxt(io.StringIO(body), delimiter=sep, dtype=np.float64, ndmin=2)
        if boxes.shape[1] == 4 and len(boxes) == body.count("\n") + 1:
            return boxes
    except ValueError:
        pass
    _raise_bad_line(body, path, sep)
    raise AssertionError("unreachable")  # pragma: no cover


def _raise_bad_line(body: str, path: Path | str, sep: str | None) -> None:
    for number, line in enumerate(body.split("\n"), start=1):
        parts = line.split(sep) if sep else line.split()
        try:
            if len(parts) == 4:
                [float(p) for p in parts]
                continue
        except ValueError:
            pass
        shown = line if len(line) <= 60 else line[:57] + "..."
        how = "comma-separated" if sep == "," else "separated"
        raise DataError(f"{path}:{number}: malformed box line {shown!r}; expected 4 {how} numbers x,y,w,h")
    raise DataError(f"{path}: malformed groundtruth; expected one 'x,y,w,h' line per frame")


def parse_flags(text: str, path: Path | str, count: int) -> np.ndarray:
    """Per-frame integer labels, one per line or comma-separated; must have ``count`` values."""
    tokens = text.replace(",", " ").split()
    try:
        values = np.array(tokens, dtype=np.float64).astype(np.int64)
    except ValueError:
        for number, line in enumerate(text.split("\n"), start=1):
            for token in line.replace(",", " ").split():
                try:
                    float(token)
                except ValueError:
                    raise DataError(f"{path}:{number}: {token!r} is not a number") from None
        raise DataError(f"{path}: malformed labels; expected one integer per frame") from None
    if len(values) != count:
        raise DataError(f"{path}: has {len(values)} labels but the sequence has {count} frames")
    return values


def read_boxes_file(path: Path, frame_count: int, *, sep: str | None = ",", first_only_ok: bool = False) -> np.ndarray:
    """Boxes of a sequence; ``first_only_ok`` pads a single first-frame box with NaN (test splits)."""
    boxes = parse_boxes(read_text(path), path, sep=sep)
    if len(boxes) == frame_count:
        return boxes
    if first_only_ok and len(boxes) == 1:
        padded = np.full((frame_count, 4), np.nan)
        padded[0] = boxes[0]
        return padded
    raise DataError(f"{path}: has {len(boxes)} boxes but its folder has {frame_count} frames")


# --- checks --------------------------------------------------------------------------

def check_box(seq: Sequence, index: int, width: int, height: int) -> None:
    """DataError (file and line) if frame ``index``'s visible box misses the image or is negative."""
    x, y, w, h = seq.boxes[index]
    if not np.isfinite([x, y, w, h]).all() or seq.absent[index]:
        return
    if w < 0 or h < 0:
        raise DataError(f"{seq.where(index)}: box has negative size ({w:g} x {h:g})")
    if w > 0 and h > 0 and (x >= width or y >= height or x + w <= 0 or y + h <= 0):
        raise DataError(
            f"{seq.where(index)}: box ({x:g},{y:g},{w:g},{h:g}) lies outside the {width}x{height} image "
            f"{Path(seq.frames[index]).name}"
        )


def check_first_box(seq: Sequence) -> None:
    """DataError (file and line) unless frame 0 has a finite box of positive size to start tracking from."""
    x, y, w, h = seq.boxes[0]
    if not (np.isfinite([x, y, w, h]).all() and w > 0 and h > 0):
        raise DataError(f"{seq.where(0)}: first-frame box ({x:g},{y:g},{w:g},{h:g}) is missing or empty; a tracker "
                        "starts from it — give the target's box in the first frame, or remove the sequence")


def image_size(path: Path | str) -> tuple[int, int]:
    """(width, height) from the image header only; DataError if missing or not an image."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            size = im.size
        truncated = _jpeg_truncated(Path(path))
    except FileNotFoundError:
        raise DataError(f"image {path}: no such file; restore it or remove its sequence") from None
    except (UnidentifiedImageError, OSError, ValueError):
        raise DataError(f"image {path}: unreadable or not an image file; re-copy or re-extract it, or remove its sequence") from None
    if truncated:
        raise DataError(f"image {path}: truncated JPEG (no end marker); re-copy or re-extract the file")
    return size


def check_sequence(seq: Sequence, *, decode: bool = False) -> None:
    """Read every frame's header (or the whole image with ``decode``) and validate every box.

    Raises DataError for the first problem, naming the image file or the annotation
    file and line. Used by ``autoprune data check``.
    """
    if len(seq.boxes) != len(seq.frames):
        raise DataError(f"sequence {seq.name}: {len(seq.boxes)} boxes for {len(seq.frames)} frames")
    for index, path in enumerate(seq.frames):
        if decode:
            height, width = read_rgb(path).shape[:2]
        else:
            width, height = image_size(path)
        check_box(seq, index, width, height)
