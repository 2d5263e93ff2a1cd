"""The ``confusion-report`` command line: ``build``, ``demo``, ``render`` and ``diff``. Parsing only, no logic."""

from __future__ import annotations

import shlex
import traceback
from pathlib import Path

import click

from . import __version__
from .errors import ReportError
from .forward_budget import DEFAULT_SHARE

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


# Exit status of a run stopped by Ctrl-C (128 + SIGINT), as shells report it.
EXIT_INTERRUPTED = 130


class _ReportErrors(click.Group):
    """Print a ReportError as one line (no traceback) and exit with status 2; Ctrl-C exits 130.

    With ``--verbose`` the library output and the traceback behind the error come first, so the
    last line is still the error.
    """

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except ReportError as exc:
            if ctx.meta.get(_VERBOSE):
                _print_details(exc)
            click.echo(f"error: {exc}", err=True)
            ctx.exit(2)
        except Exception as exc:
            # The pass halves its batch on out-of-memory; a later stage (explanations) that still runs out
            # gets one line that says what to change, not a traceback. Any other exception is a bug: re-raise.
            if "out of memory" not in str(exc):
                raise
            if ctx.meta.get(_VERBOSE):
                click.echo("".join(traceback.format_exception(type(exc), exc, exc.__traceback__)).rstrip(), err=True)
            first = str(exc).strip().splitlines()[0]
            click.echo(
                f"error: the device ran out of memory ({first}); try a smaller --batch-size or --explain none", err=True
            )
            ctx.exit(2)
        except KeyboardInterrupt:
            # Outputs are written atomically, so nothing half-written is left; a checkpoint may be.
            if ctx.meta.get(_CACHE):
                said = "no report was written; the pass so far is checkpointed in --cache: the same command resumes it"
            else:
                said = "nothing was written"
            click.echo(f"\ninterrupted: {said}", err=True)
            ctx.exit(EXIT_INTERRUPTED)


_VERBOSE = "confusion_report.verbose"
_CACHE = "confusion_report.cache"


def _print_details(exc: ReportError) -> None:
    if exc.details:
        click.echo(exc.details, err=True)
    cause = exc.__cause__
    if cause is not None:
        click.echo("".join(traceback.format_exception(type(cause), cause, cause.__traceback__)).rstrip(), err=True)


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
    default="pca",
    show_default=True,
    help="2-D projection of the embeddings for the feature-space chart (seeded, reproducible). PCA costs "
    "under a second; UMAP and t-SNE draw tighter clusters but cost 30 s to minutes on a small CPU (the "
    "neighbour statistics do not depend on it).",
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
@click.option(
    "--occlusion-window", type=click.IntRange(1), help="Occlusion window in px (default: chosen from --explain-budget)."
)
@click.option(
    "--occlusion-stride",
    type=click.IntRange(1),
    help="Occlusion stride in px (default: chosen from --explain-budget; one window when only the window is given).",
)
@click.option(
    "--explain-budget",
    type=click.FloatRange(0, min_open=True),
    default=DEFAULT_SHARE,
    show_default=True,
    help="Extra forwards after the pass, as a fraction of the images in it, shared by the whole build: the "
    "overlays (CAMs the pass lacks, activation views, occlusion) may spend half (at least 100), the interventions "
    "that test findings get the rest (at least 256). Raise it for finer occlusion of more gallery images. "
    "LIME and SHAP are outside it.",
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
    "--checkpoint-every",
    type=click.IntRange(1),
    default=2000,
    show_default=True,
    help="With --cache: store the pass's progress every N images, so a killed or crashed run resumes where it "
    "stopped when run again.",
)
@click.option(
    "--verbose",
    is_flag=True,
    help="Also show what libraries log and the traceback behind an error (normally one line).",
)
@click.option(
    "--gpu-decode/--no-gpu-decode",
    default=True,
    show_default=True,
    help="On CUDA, decode JPEGs (nvJPEG) and preprocess on the GPU; other formats are decoded on the CPU.",
)
@click.option(
    "--class-groups",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="CSV of class,group (e.g. WordNet superclasses): confusion within vs across groups, the matrix "
    "ordered and blocked by group.",
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
    explain_budget: float,
    quiet: bool,
    cache_dir: Path | None,
    checkpoint_every: int,
    verbose: bool,
    gpu_decode: bool,
    class_groups: Path | None,
) -> None:
    """Run the model over labelled images once and write the report."""
    ctx = click.get_current_context()
    ctx.meta[_VERBOSE] = verbose
    ctx.meta[_CACHE] = cache_dir
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
        explain_budget=explain_budget,
        cache_dir=cache_dir,
        checkpoint_every=checkpoint_every,
        gpu_decode=gpu_decode,
        class_groups=class_groups,
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


DIFF_EXAMPLES = """
\b
Exit status: 0 when every gate passes (or none is set), 1 when a gate fails (each failed gate is
named on stderr and in the Markdown), 2 for a usage or input error.
\b
Examples:
  confusion-report diff base.json pr.json --out diff.html --markdown summary.md
  confusion-report diff base.html pr.html --max-accuracy-drop 1 --max-class-recall-drop 5 \\
      --fail-on-new-finding high --report-url https://example.org/pr-12/diff.html
"""


@main.command(name="diff", epilog=DIFF_EXAMPLES)
@click.argument("base", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.argument("new", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=Path("confusion-diff.html"),
    show_default=True,
    help="The HTML diff report to write.",
)
@click.option(
    "--markdown",
    "markdown_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Also write a short GitHub-flavoured summary for a pull-request comment ('-' for stdout).",
)
@click.option("--title", help="Title of the diff report.")
@click.option("--report-url", help="Where the HTML diff will be published; the Markdown links to it.")
@click.option(
    "--max-accuracy-drop",
    type=click.FloatRange(min=0),
    metavar="PP",
    help="Fail if accuracy drops by more than PP percentage points.",
)
@click.option(
    "--max-class-recall-drop",
    type=click.FloatRange(min=0),
    metavar="PP",
    help="Fail if a class's recall drops by more than PP percentage points and the drop is significant "
    "for that class's support (McNemar's exact test, Benjamini-Hochberg).",
)
@click.option(
    "--fail-on-new-finding",
    type=click.Choice(["high", "medium"]),
    help="Fail if a finding of this severity or worse appears (or rises to it) in NEW.",
)
def diff_command(
    base: Path,
    new: Path,
    out: Path,
    markdown_path: Path | None,
    title: str | None,
    report_url: str | None,
    max_accuracy_drop: float | None,
    max_class_recall_drop: float | None,
    fail_on_new_finding: str | None,
) -> None:
    """Compare two runs on the same images (results JSON files or reports): BASE, then NEW."""
    from .diff import diff
    from .render.html import write_atomic

    result = diff(
        base,
        new,
        title=title,
        report_url=report_url,
        max_accuracy_drop=max_accuracy_drop,
        max_class_recall_drop=max_class_recall_drop,
        fail_on_new_finding=fail_on_new_finding,
    )
    for warning in result.comparison.warnings:
        click.echo(f"warning: {warning}", err=True)
    size = result.save(out)
    if markdown_path is not None:
        if str(markdown_path) == "-":
            click.echo(result.markdown(), nl=False)
        else:
            write_atomic(markdown_path, result.markdown())
    acc = result.comparison.metrics[0]
    flips = result.comparison.mcnemar
    click.echo(
        f"accuracy {acc.base:.2%} -> {acc.new:.2%} over {result.comparison.n_common} images; "
        f"{flips.right_to_wrong} right -> wrong, {flips.wrong_to_right} wrong -> right; "
        f"wrote {out} ({size / 1e6:.2f} MB)",
        err=str(markdown_path) == "-",
    )
    for gate in result.failed_gates:
        click.echo(f"gate failed: --{gate.name}: {gate.detail}", err=True)
    click.get_current_context().exit(result.exit_code)


if __name__ == "__main__":
    main()
