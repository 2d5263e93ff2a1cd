"""The device-side input path (bytes in workers, decode + preprocess on the device), checked on the CPU."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from builders import ColourNet, colour_image, make_colour_folder
from confusion_report.batch import ImageDataset, collate
from confusion_report.engine import run_pass
from confusion_report.gpu_decode import DeviceDecoder, EncodedImageDataset, collate_encoded, decode_jpegs
from confusion_report.loading import wrap_module
from confusion_report.preprocess import build_transform, resolve_preprocessing

CPU = torch.device("cpu")


def _photo(seed: int, size: tuple[int, int]) -> Image.Image:
    """A smooth, photo-like image (resampling filters agree on smooth content, not on pixel noise)."""
    rng = np.random.default_rng(seed)
    coarse = Image.fromarray(rng.integers(0, 256, (4, 4, 3), dtype=np.uint8), "RGB")
    return coarse.resize(size, Image.Resampling.BICUBIC)


@pytest.fixture
def mixed_folder(tmp_path: Path) -> list[Path]:
    """RGB JPEGs of several sizes (two share one), a grayscale JPEG, a PNG with alpha, a truncated JPEG."""
    paths = []
    for k, size in enumerate([(300, 200), (180, 260), (256, 256), (300, 200)]):
        p = tmp_path / f"rgb{k}.jpg"
        _photo(k, size).save(p, quality=92)
        paths.append(p)
    gray = tmp_path / "gray.jpg"
    _photo(7, (240, 240)).convert("L").save(gray, quality=92)
    png = tmp_path / "alpha.png"
    _photo(8, (230, 250)).convert("RGBA").save(png)
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(paths[0].read_bytes()[:200])
    return [*paths, gray, png, broken]


def test_dataset_hands_over_jpeg_bytes_and_decodes_other_formats(mixed_folder: list[Path]) -> None:
    """RGB/grayscale JPEGs come as their file bytes; the PNG comes decoded as uint8 CxHxW."""
    ds = EncodedImageDataset(mixed_folder)
    i, payload, is_jpeg, error, size, conversion, _ = ds[0]
    assert i == 0 and is_jpeg and error is None and size == (300, 200) and conversion is None
    assert payload == mixed_folder[0].read_bytes()
    assert ds[4][2] and ds[4][5] == "grayscale"
    _, png, png_is_jpeg, _, png_size, png_conv, _ = ds[5]
    assert not png_is_jpeg and png.dtype == torch.uint8 and tuple(png.shape) == (3, 250, 230)
    assert png_conv == "alpha" and png_size == (230, 250)


def test_collate_joins_jpeg_bytes_into_one_tensor(mixed_folder: list[Path]) -> None:
    """The batch carries one blob whose spans give back each JPEG's bytes; decoded images stay apart."""
    ds = EncodedImageDataset(mixed_folder)
    batch = collate_encoded([ds[k] for k in range(len(mixed_folder))])
    assert batch.is_jpeg == [True, True, True, True, True, False]
    for k in range(5):
        assert batch.jpeg_bytes(k).numpy().tobytes() == mixed_folder[k].read_bytes()
    assert batch.payloads[5].shape == (3, 250, 230) and batch.payloads[0] is None
    assert [i for i, _ in batch.failed] == [6]


def test_device_preprocessing_matches_the_pillow_path(mixed_folder: list[Path]) -> None:
    """Decode + resize + crop + normalise on tensors agrees with the Pillow transform within 2/255 per pixel."""
    info = resolve_preprocessing(preset="imagenet")
    good = mixed_folder[:6]
    pil = collate([ImageDataset(good, build_transform(info))[k] for k in range(len(good))])
    batch = DeviceDecoder(info, CPU)(collate_encoded([EncodedImageDataset(good)[k] for k in range(len(good))]))
    assert batch.indices == pil.indices and batch.sizes == pil.sizes and batch.conversions == pil.conversions
    assert batch.images.shape == pil.images.shape == (6, 3, 224, 224)
    # Normalised values: 2/255 in pixel terms is 2/255/std in these units.
    tol = 2 / 255 / min(info.std)
    diff = (batch.images - pil.images).abs()
    assert float(diff.mean()) < 0.25 * tol
    assert float(diff.max()) < 4 * tol


def test_a_file_that_cannot_be_decoded_is_reported_with_a_reason(mixed_folder: list[Path]) -> None:
    """The truncated JPEG becomes a failure with Pillow's reason; the rest of the batch still decodes."""
    info = resolve_preprocessing(preset="imagenet")
    ds = EncodedImageDataset(mixed_folder)
    batch = DeviceDecoder(info, CPU)(collate_encoded([ds[k] for k in range(len(mixed_folder))]))
    assert batch.indices == [0, 1, 2, 3, 4, 5]
    assert [i for i, _ in batch.failed] == [6]
    assert batch.failed[0][1]


def test_batched_jpeg_decode_falls_back_per_image() -> None:
    """One corrupt file in the batched call does not cost the others."""
    import io

    buf = io.BytesIO()
    colour_image((0.9, 0.1, 0.1), size=20).save(buf, format="JPEG")
    good = torch.frombuffer(bytearray(buf.getvalue()), dtype=torch.uint8)
    bad = good[: len(good) // 3].clone()
    out = decode_jpegs([good, bad, good], CPU)
    assert isinstance(out[0], torch.Tensor) and out[0].shape == (3, 20, 20)
    assert isinstance(out[1], str)
    assert torch.equal(out[0], out[2])


def test_pass_with_the_device_decoder_gives_the_same_predictions(tmp_path: Path) -> None:
    """A whole pass through the decoder path reproduces the Pillow path's logits closely, on the CPU."""
    root = make_colour_folder(tmp_path / "data", per_class=6, confusions={("red", "green"): 2}, ext="jpg", size=24)
    paths = sorted(root.rglob("*.jpg"))
    info = resolve_preprocessing(preset="none")
    model = wrap_module(ColourNet().eval())
    common = dict(num_outputs=3, device=CPU, batch_size=5, workers=0, progress=False)
    ref = run_pass(model, paths, build_transform(info), **common)
    # One worker: the encoded batches cross a process boundary as they do in a real run.
    dev = run_pass(model, paths, build_transform(info), decoder=DeviceDecoder(info, CPU), **{**common, "workers": 1})
    assert np.array_equal(ref.indices, dev.indices) and np.array_equal(ref.sizes, dev.sizes)
    assert np.array_equal(ref.logits.argmax(1), dev.logits.argmax(1))
    assert np.allclose(ref.logits, dev.logits, atol=0.1)


def test_cuda_prefetch_yields_every_batch_once_in_order_after_waiting(monkeypatch) -> None:
    """The side-stream prefetcher (CUDA faked) prepares one batch ahead and syncs before each hand-over."""
    from contextlib import nullcontext

    from confusion_report import gpu_decode

    log: list[str] = []

    class FakeStream:
        def __init__(self, name: str) -> None:
            self.name = name

        def wait_stream(self, other) -> None:
            log.append(f"wait {other.name}")

    monkeypatch.setattr(gpu_decode.torch.cuda, "Stream", lambda device=None: FakeStream("side"))
    monkeypatch.setattr(gpu_decode.torch.cuda, "current_stream", lambda device=None: FakeStream("main"))
    monkeypatch.setattr(gpu_decode.torch.cuda, "stream", lambda s: nullcontext())

    def prepare(b: int) -> int:
        log.append(f"prepare {b}")
        return b * 10

    out = []
    for item in gpu_decode.device_batches(iter([1, 2, 3]), prepare, torch.device("cuda")):
        log.append(f"use {item}")
        out.append(item)
    assert out == [10, 20, 30]
    assert log == [
        "prepare 1",
        "wait side",
        "prepare 2",
        "use 10",
        "wait side",
        "prepare 3",
        "use 20",
        "wait side",
        "use 30",
    ]
