"""On the real pretrained ResNet-20 and CIFAR-10 sample in ../shared (skipped when absent)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from confusion_report import build


@pytest.mark.slow
def test_resnet20_report_names_known_pairs_and_matches_a_plain_loop(shared_data: Path, tmp_path: Path) -> None:
    """dog->cat and automobile->truck are top pairs; accuracy equals a torchvision evaluation loop."""
    import torchvision
    from torchvision import transforms

    sys.path.insert(0, str(shared_data))
    try:
        import cifar_resnet
    finally:
        sys.path.remove(str(shared_data))
    data = shared_data / "cifar10-train-sample"
    result = build(
        shared_data / "resnet20_cifar10_state_dict.pt",
        data,
        out=tmp_path / "r.html",
        arch=f"{shared_data / 'cifar_resnet.py'}:CifarResNet",
        arch_kwargs={"n": 3},
        preset="cifar",
        mean=(0.485, 0.456, 0.406),
        std=(0.229, 0.224, 0.225),
        workers=0,
        progress=False,
    )
    top = [(p.true, p.pred) for p in result.pairs[:4]]
    assert ("dog", "cat") in top and ("automobile", "truck") in top

    model = cifar_resnet.CifarResNet(3)
    model.load_state_dict(torch.load(shared_data / "resnet20_cifar10_state_dict.pt", weights_only=True))
    model.eval()
    tf = transforms.Compose([transforms.ToTensor(), transforms.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])])
    loader = torch.utils.data.DataLoader(torchvision.datasets.ImageFolder(str(data), tf), batch_size=250)
    correct = total = 0
    with torch.no_grad():
        for x, y in loader:
            correct += int((model(x).argmax(1) == y).sum())
            total += len(y)
    assert result.dataset.n_images == total
    assert result.metrics.accuracy == pytest.approx(correct / total, abs=1e-9)
    assert np.isclose(result.metrics.accuracy, 0.86, atol=0.01)
