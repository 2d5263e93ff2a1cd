"""The ``confusion-report`` command line: ``build``, ``demo`` and ``render``. Parsing only, no logic."""

from __future__ import annotations

import shlex
from pathlib import Path

import click

from . import __version__
from .errors import ReportError

BUILD_EXAMPLES = """
\b
Examples:
  # a torch.export program and an ImageFolder tree
  confusion-report build --model model.pt2 --data val/
\b
  # a state_dict with its architecture, CIFAR-sized inputs
  confusion-report build --model weights.pt --arch torchvision:resnet18 \\
      --arch-kwargs '{"num_classes": 10}' --preset cifar --data val/
\b
  # a class defined in your own file, a CSV manifest, results for pandas
  confusion-report build --model net.pt --arch models/net.py:Net --data val.csv \\
      --json results.json --predictions preds.csv --out report.html
"""


def _command_line() -> str:
    """The command as it would be retyped: the sub-command and every option that differs from its default."""
    ctx = click.get_current_context()
    words = ["confusion-report", ctx.info_name or ""]
    for param in ctx.command.params:
        if not isinstance(param, click.Option) or param.name not in ctx.params:
            continue
        value = ctx.params[param.name]
        if value is None or value == param.default or (param.is_flag and not value):
            continue
        words.append(param.opts[0])
        if not param.is_flag:
            words.append(str(value))
    return " ".join(shlex.quote(w) for w in words)


class _ReportErrors(click.Group):
    """Print a ReportError as one line (no traceback) and exit with status 2."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except ReportError as exc:
            click.echo(f"error: {exc}", err=True)
            ctx.exit(2)


@click.group(cls=_ReportErrors, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="confusion-report")
def main() -> None:
    """Show and explain what an image classifier confuses, in one self-contained HTML file."""


@main.command(epilog=BUILD_EXAMPLES)
@click.option(
    "--model",
    "model_path",
    required=True,
    type=click.Path(exists=True, path_type=Path),
    help="Model file: torch.export .pt2, TorchScript, a state_dict or .safetensors (with --arch), a Hugging Face "
    "image-classification folder, or a pickled module "
    "(with --trust-pickle).",
)
@click.option(
    "--data",
    required=True,
    type=click.Path(exists=True, path_type=Path),
    help="Folder in ImageFolder layout (one sub-folder per class) or a CSV manifest with path,label.",
)
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=Path("confusion-report.html"),
    show_default=True,
    help="The HTML report to write.",
)
@click.option(
    "--json",
    "json_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Also write the results (with thumbnails) as JSON; `confusion-report render` reads it.",
)
@click.option(
    "--predictions",
    "predictions_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Also write one CSV row per image: label, prediction, confidence, margin, probabilities.",
)
@click.option("--device", default="auto", show_default=True, help="auto, cpu, cuda or cuda:N.")
@click.option("--batch-size", type=click.IntRange(1), default=64, show_default=True)
@click.option("--workers", type=click.IntRange(0), default=2, show_default=True, help="Image decoding processes.")
@click.option(
    "--classes",
    "classes",
    help="Comma-separated focus classes: pairs and galleries keep only pairs that involve one of them.",
)
@click.option(
    "--top-pairs",
    type=click.IntRange(0),
    default=6,
    show_default=True,
    help="How many of the most confused pairs get a gallery.",
)
@click.option("--title", help="Report title.")
@click.option(
    "--arch",
    help="Architecture for a state_dict: torchvision:NAME, timm:NAME, package.module:factory or file.py:ClassName.",
)
@click.option("--arch-kwargs", help="JSON object of keyword arguments for --arch, e.g. '{\"num_classes\": 10}'.")
@click.option(
    "--trust-pickle",
    is_flag=True,
    help="Allow loading a whole pickled module. Unpickling runs code from the file: only for files you trust.",
)
@click.option(
    "--class-names",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Text file, one name per model output in order, when outputs and class folders differ.",
)
@click.option(
    "--preset",
    default=None,
    help="imagenet (the default unless the model brings its own): resize 256, crop 224, ImageNet mean/std; "
    "cifar: 32 px, CIFAR mean/std; none: tensor only; torchvision:WEIGHTS (e.g. ResNet50_Weights.IMAGENET1K_V2), "
    "timm:MODEL or hf:DIR: that recipe. A Hugging Face folder or --arch timm:NAME brings its own.",
)
@click.option(
    "--resize", type=click.IntRange(0), help="Resize the shorter side to N px (0: off). Overrides the preset."
)
@click.option("--crop", type=click.IntRange(0), help="Center crop N x N px (0: off). Overrides the preset.")
@click.option("--mean", help="Normalisation mean, e.g. 0.485,0.456,0.406. Overrides the preset.")
@click.option("--std", help="Normalisation std, e.g. 0.229,0.224,0.225. Overrides the preset.")
@click.option("--embedding-layer", help="Module whose output is the embedding (default: input of the final Linear).")
@click.option(
    "--projection",
    type=click.Choice(["umap", "tsne", "pca"]),
    default="umap",
    show_default=True,
    help="2-D projection of the embeddings for the feature-space chart (seeded, reproducible).",
)
@click.option(
    "--target-layer",
    help="Module for Grad-CAM (default: the last module with a spatial output before global pooling).",
)
@click.option("--no-cams", is_flag=True, help="Skip the Grad-CAM of every image in the pass (attention statistics).")
@click.option(
    "--explain",
    "explain",
    default="gradcam,occlusion",
    show_default=True,
    help="Overlays for the gallery images, comma-separated from gradcam, occlusion, lime, shap; 'all' or 'none'.",
)
@click.option(
    "--cam",
    "cam_method",
    type=click.Choice(["gradcam", "gradcam++", "layercam", "eigencam", "hirescam", "xgradcam"]),
    default="gradcam",
    show_default=True,
    help="pytorch-grad-cam method for the gallery overlays.",
)
@click.option("--occlusion-window", type=click.IntRange(1), help="Occlusion window in px (default: input side / 7).")
@click.option(
    "--occlusion-stride",
    type=click.IntRange(1),
    help="Occlusion stride in px (default: half the window on a GPU, one window on the CPU).",
)
@click.option(
    "--explain-samples",
    type=click.IntRange(10),
    default=200,
    show_default=True,
    help="Perturbed samples per image for LIME and KernelSHAP.",
)
@click.option("--quiet", is_flag=True, help="No progress bar or messages.")
@click.option(
    "--cache",
    "cache_dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Keep the pass's per-image arrays in DIR, keyed by model, data and preprocessing, so a rebuild with "
    "other report options (--classes, --top-pairs, --title) skips the pass.",
)
@click.option(
    "--gpu-decode/--no-gpu-decode",
    default=True,
    show_default=True,
    help="On CUDA, decode JPEGs (nvJPEG) and preprocess on the GPU; other formats are decoded on the CPU.",
)
def build(
    model_path: Path,
    data: Path,
    out: Path,
    json_path: Path | None,
    predictions_path: Path | None,
    device: str,
    batch_size: int,
    workers: int,
    classes: str | None,
    top_pairs: int,
    title: str | None,
    arch: str | None,
    arch_kwargs: str | None,
    trust_pickle: bool,
    class_names: Path | None,
    preset: str | None,
    resize: int | None,
    crop: int | None,
    mean: str | None,
    std: str | None,
    embedding_layer: str | None,
    projection: str,
    target_layer: str | None,
    no_cams: bool,
    explain: str,
    cam_method: str,
    occlusion_window: int | None,
    occlusion_stride: int | None,
    explain_samples: int,
    quiet: bool,
    cache_dir: Path | None,
    gpu_decode: bool,
) -> None:
    """Run the model over labelled images once and write the report."""
    from .api import build as run_build
    from .config import BuildConfig
    from .explain.run import parse_methods
    from .loading import parse_arch_kwargs
    from .preprocess import parse_floats

    cfg = BuildConfig(
        out=out,
        json_path=json_path,
        predictions_path=predictions_path,
        device=device,
        batch_size=batch_size,
        workers=workers,
        focus_classes=tuple(c.strip() for c in (classes or "").split(",") if c.strip()),
        top_pairs=top_pairs,
        title=title,
        arch=arch,
        arch_kwargs=parse_arch_kwargs(arch_kwargs),
        trust_pickle=trust_pickle,
        class_names=class_names,
        preset=preset,
        resize=resize,
        crop=crop,
        mean=parse_floats(mean, option="--mean"),
        std=parse_floats(std, option="--std"),
        embedding_layer=embedding_layer,
        progress=not quiet,
        command=_command_line(),
        projection=projection,
        target_layer=target_layer,
        cams=not no_cams,
        explain=_explain_methods(parse_methods, explain),
        cam_method=cam_method,
        occlusion_window=occlusion_window,
        occlusion_stride=occlusion_stride,
        explain_samples=explain_samples,
        cache_dir=cache_dir,
        gpu_decode=gpu_decode,
    )
    result = run_build(model_path, data, config=cfg)
    if result is None:
        return  # a torchrun rank other than 0: rank 0 writes and reports
    m = result.metrics
    click.echo(
        f"accuracy {m.accuracy:.2%} over {result.dataset.n_images} images; "
        f"{len(result.dataset.skipped)} skipped; wrote {out}"
    )


def _explain_methods(parse, text: str) -> tuple[str, ...]:
    try:
        return parse(text)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--explain") from None


@main.command()
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=Path("confusion-report-demo.html"),
    show_default=True,
)
@click.option(
    "--workdir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("confusion-report-demo"),
    show_default=True,
    help="Where the digit images, the model and the results are written.",
)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--quiet", is_flag=True)
def demo(out: Path, workdir: Path, seed: int, quiet: bool) -> None:
    """Train a small CNN on scikit-learn's handwritten digits (seconds, offline) and report on a held-out split."""
    from .demo import run_demo

    result = run_demo(out=out, workdir=workdir, seed=seed, progress=not quiet, command=_command_line())
    top = ", ".join(f"{p.true}->{p.pred} ({p.count})" for p in result.pairs[:3])
    click.echo(f"demo: accuracy {result.metrics.accuracy:.2%}; top pairs {top}; wrote {out}")


@main.command()
@click.argument("results", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--out", type=click.Path(dir_okay=False, path_type=Path), default=Path("confusion-report.html"), show_default=True
)
def render(results: Path, out: Path) -> None:
    """Re-render a report from a results JSON written by `build --json` (no model, no torch)."""
    from .render.html import write_report
    from .results import ReportData

    try:
        data = ReportData.from_json(results.read_text(encoding="utf-8"))
    except (ValueError, KeyError, TypeError) as exc:
        raise ReportError(f"{results} is not a confusion-report results file: {exc}") from None
    size = write_report(data, out)
    click.echo(f"wrote {out} ({size / 1e6:.2f} MB)")


if __name__ == "__main__":
    main()
