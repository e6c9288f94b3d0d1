"""``shiftkit interrogate IMAGE|FOLDER``: a prompt for each image, with its CLIP similarity.

Images are found recursively, read in batches (transparency flattened), embedded
together and interrogated one by one; an unreadable image is reported on one
line and skipped. The CSV (and each sidecar ``.txt``) is written atomically.
"""

from __future__ import annotations

import contextlib
import csv
import time
from collections import Counter
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from shiftkit.cli._common import Terminated, app, console, err_console, fail, one_line_errors
from shiftkit.cli._image_options import (
    AllowDownloadOpt,
    BankFileOpt,
    BanksOpt,
    BatchOpt,
    BudgetOpt,
    CacheOpt,
    CiDataOpt,
    DeviceOpt,
    ImageOptions,
    ModelOpt,
    NoCacheOpt,
    PretrainedOpt,
    WeightsDirOpt,
    WeightsOpt,
)
from shiftkit.io import atomic_write

CSV_COLUMNS = ("path", "prompt", "similarity", "caption", "caption_similarity", "mode")
# A long run rewrites its CSV (atomically) at most this often, so that a crash keeps what was done.
CHECKPOINT_SECONDS = 30.0


def _row(path: Path, r: Any) -> tuple[str, ...]:
    caption_similarity = "" if r.caption_similarity is None else f"{r.caption_similarity:.4f}"
    return (str(path), r.prompt, f"{r.similarity:.4f}", r.caption or "", caption_similarity, r.mode)


def _write_csv(out: Path, rows: dict[str, tuple[str, ...]]) -> None:
    with atomic_write(out, "w") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(CSV_COLUMNS)
        writer.writerows(rows.values())


@contextlib.contextmanager
def _fields_of_any_size() -> Any:
    """csv's field size limit lifted while an earlier run's CSV is read (a caption or a path longer than
    its 131,072 characters stopped --resume with "field larger than field limit")."""
    limit = csv.field_size_limit()
    csv.field_size_limit(2**31 - 1)
    try:
        yield
    finally:
        csv.field_size_limit(limit)


def _previous_rows(out: Path, mode: str) -> dict[str, tuple[str, ...]]:
    """The rows of an earlier run's CSV in the same mode (to resume it); none if there is no file."""
    if not out.is_file():
        return {}
    with _fields_of_any_size(), open(out, newline="", encoding="utf-8") as f:
        reader = csv.reader(f)
        try:
            if tuple(next(reader, ())) != CSV_COLUMNS:
                raise ValueError(f"--resume: {out} is not a CSV written by shiftkit interrogate")
            rows = {r[0]: tuple(r) for r in reader if len(r) == len(CSV_COLUMNS)}
        except (csv.Error, UnicodeDecodeError) as exc:
            raise ValueError(f"--resume: {out} cannot be read as a CSV ({exc})") from None
    modes = {r[5] for r in rows.values()} - {mode}
    if modes:
        raise ValueError(f"--resume: {out} holds prompts of mode {sorted(modes)[0]!r}, not {mode!r}")
    return rows


def _recorded_prompts(out: Path) -> dict[str, str]:
    """The prompt an earlier run's CSV ``out`` records for each image; none where there is no such CSV
    (without --resume it need not be one: it is only read to tell shiftkit's sidecars from the user's)."""
    recorded: dict[str, str] = {}
    if out.is_file():
        with (
            contextlib.suppress(OSError, UnicodeDecodeError, csv.Error),
            _fields_of_any_size(),
            open(out, newline="", encoding="utf-8") as f,
        ):
            reader = csv.reader(f)
            if tuple(next(reader, ())) == CSV_COLUMNS:
                recorded = {r[0]: r[1] for r in reader if len(r) == len(CSV_COLUMNS)}
    return recorded


def _not_ours(paths: list[Path], recorded: dict[str, str]) -> list[Path]:
    """The sidecars of ``paths`` that exist and that shiftkit did not write: a sidecar is shiftkit's when
    it holds exactly the prompt an earlier run's CSV records for its image (``recorded``,
    `_recorded_prompts`); any other file of that name (hand-written captions, a link) is the user's."""
    theirs = []
    for path in paths:
        txt = path.with_suffix(".txt")
        if not (txt.exists() or txt.is_symlink()):
            continue
        ours = False
        if not txt.is_symlink() and txt.is_file() and str(path) in recorded:
            with contextlib.suppress(OSError, UnicodeDecodeError):
                ours = txt.read_text(encoding="utf-8") == recorded[str(path)] + "\n"
        if not ours:
            theirs.append(txt)
    return theirs


def progress_bar() -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=err_console,
        transient=True,
        disable=not err_console.is_terminal,
    )


@app.command()
@one_line_errors
def interrogate(
    source: Annotated[Path, typer.Argument(help="an image, or a folder searched recursively.")],
    out: Annotated[Path, typer.Option(help="the CSV to write (path, prompt, similarity, ...).")] = Path(
        "interrogations.csv"
    ),
    mode: Annotated[str, typer.Option(help="best (greedy chain), fast, classic or negative.")] = "best",
    caption: Annotated[
        str | None, typer.Option(help="a caption for every image (instead of a model's).")
    ] = None,
    caption_model: Annotated[
        str | None, typer.Option(help="a BLIP captioning model folder (save_pretrained) or repo id.")
    ] = None,
    sidecar: Annotated[
        bool, typer.Option("--sidecar", help="also write each prompt to IMAGE.txt beside the image.")
    ] = False,
    overwrite: Annotated[
        bool,
        typer.Option("--overwrite", help="with --sidecar: replace IMAGE.txt files not written by shiftkit."),
    ] = False,
    resume: Annotated[
        bool,
        typer.Option("--resume", help="keep the prompts already in --out and do only the images it lacks."),
    ] = False,
    follow_symlinks: Annotated[
        bool, typer.Option("--follow-symlinks", help="include images linked from outside the folder.")
    ] = False,
    max_flavors: Annotated[int, typer.Option(min=1, help="most phrases a prompt adds.")] = 32,
    model: ModelOpt = "ViT-B-32-quickgelu",
    pretrained: PretrainedOpt = "openai",
    weights: WeightsOpt = None,
    allow_download: AllowDownloadOpt = False,
    weights_dir: WeightsDirOpt = None,
    device: DeviceOpt = None,
    batch_size: BatchOpt = 16,
    banks: BanksOpt = None,
    bank_file: BankFileOpt = None,
    ci_data: CiDataOpt = None,
    cache_dir: CacheOpt = None,
    no_cache: NoCacheOpt = False,
    memory_budget: BudgetOpt = 512,
) -> None:
    """Interrogate images with CLIP: rank phrase banks against each image and build a prompt."""
    from shiftkit.image import MODES, BlipCaptioner, find_images
    from shiftkit.image._files import links_out_of, read_batches

    if mode not in MODES:
        raise fail(f"--mode must be one of {', '.join(MODES)}, got {mode!r}")
    if caption is not None and caption_model is not None:
        raise fail("give --caption or --caption-model, not both")
    paths = find_images(source, follow_symlinks=follow_symlinks)
    if not follow_symlinks:
        for link in links_out_of(source):
            err_console.print(f"skipped: {link} links out of the folder (--follow-symlinks)", soft_wrap=True)
    if not paths:
        raise fail(f"no image files in {source}")
    if out.resolve() in {p.resolve() for p in paths}:
        raise fail(f"--out {out} is one of the input images; choose another file")
    if out.is_dir():  # found before the images are read, not after
        raise fail(f"--out {out} is a folder; give the CSV file to write")
    # read once, and before the model loads: a CSV that cannot be resumed is said at once
    rows = _previous_rows(out, mode) if resume else {}
    if sidecar:
        shared = [s for s, n in Counter(p.with_suffix(".txt") for p in paths).items() if n > 1]
        if shared:
            raise fail(f"two images would share the sidecar {shared[0]}; rename one")
        recorded = {path: row[1] for path, row in rows.items()} if resume else _recorded_prompts(out)
        theirs = [] if overwrite else _not_ours(paths, recorded)
        if theirs:
            raise fail(
                f"{theirs[0]} exists and shiftkit did not write it ({len(theirs)} such sidecar"
                f"{'s' if len(theirs) > 1 else ''}); --overwrite replaces them"
            )
    options = ImageOptions.of(locals())
    encoder = options.encoder()
    captioner = (
        BlipCaptioner(caption_model, allow_download=True if allow_download else None, device=device)
        if caption_model
        else None
    )
    interrogator = options.interrogator(encoder, captioner)
    todo = [p for p in paths if str(p) not in rows]
    n_skipped, written = 0, time.monotonic()
    out.parent.mkdir(parents=True, exist_ok=True)
    try:
        with progress_bar() as progress:
            task = progress.add_task(
                f"interrogating ({mode})", total=len(paths), completed=len(paths) - len(todo)
            )
            for ok, images, skipped in read_batches(todo, batch_size):
                for s in skipped:
                    err_console.print(f"skipped: {s.reason}", highlight=False, soft_wrap=True)
                n_skipped += len(skipped)
                captions = None if caption is None else [caption] * len(images)
                if images:
                    results = interrogator.interrogate(images, mode, captions, max_flavors=max_flavors)
                    for path, r in zip(ok, results):
                        rows[str(path)] = _row(path, r)
                        if sidecar:
                            with atomic_write(path.with_suffix(".txt")) as f:
                                f.write(r.prompt + "\n")
                if time.monotonic() - written > CHECKPOINT_SECONDS:  # a long run keeps what it has done
                    _write_csv(out, rows)
                    written = time.monotonic()
                progress.advance(task, len(ok) + len(skipped))
    except (KeyboardInterrupt, Terminated):
        if rows:
            _write_csv(out, rows)
            err_console.print(
                f"{len(rows)} prompts kept in {out}; --resume goes on from there", highlight=False
            )
        raise
    if not rows:
        raise fail(f"none of the {len(paths)} images could be read")
    _write_csv(out, rows)
    console.print(
        f"{len(rows)} images interrogated ({mode}, {encoder.name}); {n_skipped} skipped -> {out}",
        highlight=False,
        soft_wrap=True,
    )
    if len(rows) == 1:
        (only,) = rows.values()
        console.print(
            f"prompt: {only[1]}\nsimilarity to the image: {only[2]}", highlight=False, soft_wrap=True
        )
