"""The GPU input path: workers read JPEG bytes, the device decodes them in batches and preprocesses them.

On a GPU box CPU-side JPEG decoding is the bottleneck (DESIGN.md: ~1,800 img/s with 15 workers against
~13,000 img/s for nvJPEG), so with CUDA the pass hands the device the compressed bytes:

* :class:`EncodedImageDataset` reads a JPEG's bytes (RGB or grayscale baseline files, told apart from
  the header alone) and decodes every other format on the CPU exactly as the CPU path does;
* :class:`DeviceDecoder` decodes the batch's JPEGs with one ``torchvision.io.decode_jpeg(list,
  device=...)`` call, falls back per image (device, then Pillow) when the batched call fails, and
  applies the same resize / centre crop / scale / normalise steps to uint8 tensors on the device;
* :func:`device_batches` prepares batch k+1 on a side CUDA stream while the model runs batch k.

Everything also runs with ``device="cpu"`` (tests compare it with the Pillow path); the build uses it
only when the pass runs on CUDA.
"""

from __future__ import annotations

import io
import warnings
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset

from .batch import Batch
from .data import load_rgb, to_rgb
from .results import PreprocessInfo

# JPEG modes nvJPEG turns into RGB the way Pillow's convert("RGB") does; CMYK/YCCK go through Pillow.
_DEVICE_JPEG_MODES = {"RGB": None, "L": "grayscale"}


@dataclass
class EncodedBatch:
    """A batch as the workers hand it over.

    The JPEGs' bytes travel as one uint8 tensor (``blob``; image k is ``blob[start:end]`` with
    ``spans[k]``), so a batch crosses from a worker in one shared-memory segment rather than one per
    file; other images come CPU-decoded as uint8 CxHxW in ``payloads`` (None where k is a JPEG).
    """

    indices: list[int]
    payloads: list[torch.Tensor | None]
    spans: list[tuple[int, int] | None]
    blob: torch.Tensor
    sizes: list[tuple[int, int]]
    conversions: list[str | None]
    failed: list[tuple[int, str]]

    @property
    def is_jpeg(self) -> list[bool]:
        """Whether image k is decoded on the device."""
        return [span is not None for span in self.spans]

    def jpeg_bytes(self, k: int) -> torch.Tensor:
        """The file bytes of JPEG k, a view into ``blob``."""
        start, end = self.spans[k]
        return self.blob[start:end]

    def pin_memory(self) -> EncodedBatch:
        """Called by the DataLoader (``pin_memory=True``): page-locked CPU-decoded images copy asynchronously."""
        self.payloads = [None if p is None else p.pin_memory() for p in self.payloads]
        return self


def _uint8_chw(img: Image.Image) -> torch.Tensor:
    return torch.from_numpy(np.asarray(img, dtype=np.uint8).copy()).permute(2, 0, 1).contiguous()


class EncodedImageDataset(Dataset):
    """One item per path: the raw bytes of a device-decodable JPEG, else the image decoded on the CPU.

    An item is ``(i, payload, is_jpeg, error, size, conversion, path)`` with ``payload`` the file's
    ``bytes`` for a JPEG, a uint8 CxHxW tensor otherwise, None (and ``error``) when it cannot be read.
    """

    def __init__(self, paths: Sequence[Path]) -> None:
        # One numpy array of strings, not a list of Path objects: forked workers touching Python objects
        # copy their pages (refcounts), which multiplies the list's memory by the number of workers.
        self.paths = np.array([str(p) for p in paths])

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int):
        path = str(self.paths[i])
        try:
            with Image.open(path) as im:
                fmt, mode, size = im.format, im.mode, im.size
        except Exception:
            fmt = mode = size = None  # load_rgb below reports the reason, as on the CPU path
        if fmt == "JPEG" and mode in _DEVICE_JPEG_MODES and size and size[0] > 0 and size[1] > 0:
            with open(path, "rb") as fh:
                return i, fh.read(), True, None, size, _DEVICE_JPEG_MODES[mode], path
        try:
            img, conversion = load_rgb(Path(path))
        except ValueError as exc:
            return i, None, False, str(exc), None, None, path
        return i, _uint8_chw(img), False, None, img.size, conversion, path


def collate_encoded(items) -> EncodedBatch:
    """Join the JPEGs' bytes into one tensor, keep decoded images as a list (sizes differ until resized)."""
    good = [it for it in items if it[1] is not None]
    spans: list[tuple[int, int] | None] = []
    chunks: list[bytes] = []
    offset = 0
    for it in good:
        if it[2]:
            spans.append((offset, offset + len(it[1])))
            chunks.append(it[1])
            offset += len(it[1])
        else:
            spans.append(None)
    blob = (
        torch.frombuffer(bytearray(b"".join(chunks)), dtype=torch.uint8)
        if offset
        else torch.empty(0, dtype=torch.uint8)
    )
    return EncodedBatch(
        indices=[it[0] for it in good],
        payloads=[None if it[2] else it[1] for it in good],
        spans=spans,
        blob=blob,
        sizes=[it[4] for it in good],
        conversions=[it[5] for it in good],
        failed=[(it[0], it[3]) for it in items if it[1] is None],
    )


def _decode_jpeg(data: torch.Tensor | list[torch.Tensor], device: torch.device):
    from torchvision.io import ImageReadMode, decode_jpeg

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # torchvision 0.29 points at TorchCodec; it still works
        return decode_jpeg(data, mode=ImageReadMode.RGB, device=device)


def decode_jpegs(datas: list[torch.Tensor], device: torch.device) -> list[torch.Tensor | str]:
    """Decode JPEG bytes on ``device`` in one call; on failure per image, then with Pillow on the CPU.

    Returns a uint8 CxHxW tensor on ``device`` per input, or the reason it cannot be decoded.
    """
    if not datas:
        return []
    try:
        return list(_decode_jpeg(datas, device))
    except RuntimeError:
        pass  # one bad file fails the whole batched call; find it below
    out: list[torch.Tensor | str] = []
    for data in datas:
        try:
            out.append(_decode_jpeg(data, device))
            continue
        except RuntimeError:
            pass
        try:
            with Image.open(io.BytesIO(data.numpy().tobytes())) as im:
                im.load()
                img, _ = to_rgb(im)
            out.append(_uint8_chw(img).to(device))
        except ValueError as exc:
            out.append(str(exc))
        except Exception as exc:  # Pillow raises OSError/SyntaxError for truncated or corrupt files
            out.append(f"cannot decode: {exc}")
    return out


def tensor_transform(info: PreprocessInfo) -> tuple[Callable[[torch.Tensor], torch.Tensor], Callable]:
    """The preprocessing of :func:`~confusion_report.preprocess.build_transform` split for uint8 tensors.

    Returns ``(per_image, per_batch)``: resize and centre crop uint8 images (one CxHxW, or several of
    one size as NxCxHxW), then scale to [0, 1] and normalise the stacked batch in one go.
    """
    from torchvision.transforms import v2

    from .preprocess import resize_step

    steps: list = []
    if resize_step(info) is not None:
        steps.append(resize_step(info))
    if info.crop:
        steps.append(v2.CenterCrop(info.crop))
    per_image = v2.Compose(steps) if steps else (lambda t: t)
    batch_steps: list = [v2.ToDtype(torch.float32, scale=True)]
    if info.mean is not None and info.std is not None:
        batch_steps.append(v2.Normalize(list(info.mean), list(info.std)))
    return per_image, v2.Compose(batch_steps)


class DeviceDecoder:
    """Turns an :class:`EncodedBatch` into the engine's ``Batch`` with the images already on ``device``."""

    def __init__(self, info: PreprocessInfo, device: torch.device) -> None:
        self.device = torch.device(device)
        self.per_image, self.per_batch = tensor_transform(info)

    def dataset(self, paths: Sequence[Path]) -> EncodedImageDataset:
        """The dataset the DataLoader reads with :func:`collate_encoded`."""
        return EncodedImageDataset(paths)

    collate = staticmethod(collate_encoded)

    def __call__(self, batch: EncodedBatch):
        """Decode, resize, crop, scale and normalise on the device; files that fail join ``failed``."""

        jpeg_pos = [k for k, j in enumerate(batch.is_jpeg) if j]
        decoded: list[torch.Tensor | str | None] = [None] * len(batch.payloads)
        jpegs = decode_jpegs([batch.jpeg_bytes(k) for k in jpeg_pos], self.device)
        for k, img in zip(jpeg_pos, jpegs, strict=True):
            decoded[k] = img
        for k, payload in enumerate(batch.payloads):
            if payload is not None:
                decoded[k] = payload.to(self.device, non_blocking=True)
        failed = list(batch.failed)
        # Resize images of one size together: one kernel per size instead of one per image (ImageNet's
        # files come in a few common sizes), and far less Python dispatch per image.
        groups: dict[tuple[int, ...], list[int]] = {}
        for k, img in enumerate(decoded):
            if isinstance(img, str):
                failed.append((batch.indices[k], img))
            else:
                groups.setdefault(tuple(img.shape), []).append(k)
        done: dict[int, torch.Tensor] = {}
        for ks in groups.values():
            try:
                resized = self.per_image(torch.stack([decoded[k] for k in ks]))
            except Exception as exc:  # as on the CPU path: the files are reported, not lost
                failed.extend((batch.indices[k], f"cannot preprocess: {exc}") for k in ks)
                continue
            done.update(zip(ks, resized, strict=True))
        keep = sorted(done)
        failed.sort()
        images = [done[k] for k in keep]
        shapes = {tuple(t.shape) for t in images}
        if len(shapes) > 1:
            return Batch([], None, [], [], failed, mismatch=", ".join(sorted(str(s) for s in shapes)))
        stacked = self.per_batch(torch.stack(images)) if images else None
        return Batch(
            [batch.indices[k] for k in keep],
            stacked,
            [batch.sizes[k] for k in keep],
            [batch.conversions[k] for k in keep],
            failed,
        )


def device_batches(batches: Iterable, prepare: Callable, device: torch.device) -> Iterator:
    """Yield ``prepare(batch)`` for each batch; on CUDA, prepare the next one on a side stream meanwhile.

    ``prepare`` copies (non-blocking, from pinned memory) and decodes a batch on the device. Running it
    on its own stream lets the copy and the nvJPEG decode of batch k+1 overlap the forward of batch k;
    the consumer's stream waits for exactly the work of the batch it receives.
    """
    if device.type != "cuda":
        for batch in batches:
            yield prepare(batch)
        return
    side = torch.cuda.Stream(device=device)
    main = torch.cuda.current_stream(device)

    def staged(batch):
        with torch.cuda.stream(side):
            return prepare(batch)

    iterator = iter(batches)
    try:
        ready = staged(next(iterator))
    except StopIteration:
        return
    for batch in iterator:
        main.wait_stream(side)
        _record_stream(ready, main)
        upcoming = staged(batch)  # enqueued before the consumer's forward, so the GPU overlaps both
        yield ready
        ready = upcoming
    main.wait_stream(side)
    _record_stream(ready, main)
    yield ready


def _record_stream(batch, stream: torch.cuda.Stream) -> None:
    # Memory allocated on the side stream but used on the main one must not be reused before the main
    # stream is done with it.
    images = getattr(batch, "images", None)
    if isinstance(images, torch.Tensor) and images.is_cuda:
        images.record_stream(stream)
