"""A generated image tagging set, so that `python train.py --task images` runs with no download.

Each image shows one to three filled shapes (circle, square, triangle) in one of four colours
(red, green, blue, yellow) on a noisy grey background; its tags are the shapes and the colours
present, e.g. `circle;square;red;blue`. Sizes vary (64-112 pixels a side) and a quarter of the
files are JPEG, the rest PNG, so the resizing and both decoders are exercised. It is written in
the labels.csv layout (`file,labels,split`, 70% train, 10% val, 20% test) and is synthetic: it
shows that the pipeline runs, not how well real photos are tagged.

    data_dir = ensure_image_demo()     # ~/.cache/admlc-tf/demo-shapes-v1
"""

from __future__ import annotations

import csv
import io
import os
from pathlib import Path

import numpy as np

from admlc_tf.data.home import ensure_generated
from admlc_tf.files import write_folder_atomic

IMAGE_DEMO_VERSION = 1
IMAGE_DEMO_DIRNAME = f"demo-shapes-v{IMAGE_DEMO_VERSION}"
SHAPES = ("circle", "square", "triangle")
COLOURS = {"red": (220, 40, 40), "green": (40, 180, 60), "blue": (40, 70, 220),
           "yellow": (230, 210, 40)}
N_IMAGES = 480


def ensure_image_demo(cache_dir: str | os.PathLike | None = None) -> Path:
    """Returns the cached demo folder, generating it first if it is missing or incomplete."""
    return ensure_generated(
        IMAGE_DEMO_DIRNAME,
        lambda target, overwrite: generate_image_demo(target, overwrite=overwrite),
        _is_complete, what="image demo set", detail="coloured shapes", home=cache_dir)


def generate_image_demo(target: str | os.PathLike, *, n_images: int = N_IMAGES, seed: int = 0,
                        overwrite: bool = False) -> Path:
    """Writes the shapes set into `target` (labels.csv + images/); returns `target`.

    Built in a temporary sibling folder renamed into place, so an interrupted run leaves no
    half-written set. Raises FileExistsError when `target` exists and `overwrite` is False.
    """
    target = Path(target).expanduser()
    if target.exists() and not overwrite and any(target.iterdir()):
        raise FileExistsError(f"{target} exists: pass overwrite=True to replace it")

    def write(staging: Path) -> None:
        (staging / "images").mkdir()
        rng = np.random.default_rng(seed)
        rows = []
        for i in range(n_images):
            image, tags = draw_shapes(rng)
            name = f"images/shapes_{i:04d}.{'jpg' if i % 4 == 3 else 'png'}"
            if name.endswith(".jpg"):
                image.save(staging / name, quality=92)
            else:
                image.save(staging / name)
            split = "test" if i % 10 >= 8 else "val" if i % 10 == 7 else "train"
            rows.append((name, ";".join(tags), split))
        text = io.StringIO()
        writer = csv.writer(text, lineterminator="\n")
        writer.writerow(("file", "labels", "split"))
        writer.writerows(rows)
        (staging / "labels.csv").write_text(text.getvalue(), encoding="utf-8")

    return write_folder_atomic(target, write, overwrite=overwrite)


def draw_shapes(rng: np.random.Generator):
    """One image (a PIL RGB image) and its tags: the shapes, then the colours, in fixed order."""
    from PIL import Image, ImageDraw

    width, height = (int(v) for v in rng.integers(64, 113, size=2))
    grey = rng.integers(90, 170)
    noise = rng.normal(0, 12, size=(height, width, 1)) + rng.normal(0, 4, size=(height, width, 3))
    background = np.clip(grey + noise, 0, 255).astype(np.uint8)
    image = Image.fromarray(background, "RGB")
    draw = ImageDraw.Draw(image)
    shapes, colours = set(), set()
    for _ in range(int(rng.integers(1, 4))):
        shape = SHAPES[rng.integers(len(SHAPES))]
        colour = list(COLOURS)[rng.integers(len(COLOURS))]
        size = int(rng.integers(14, max(15, min(width, height) // 2)))
        x = int(rng.integers(0, width - size))
        y = int(rng.integers(0, height - size))
        fill = tuple(int(np.clip(c + rng.integers(-20, 21), 0, 255)) for c in COLOURS[colour])
        if shape == "circle":
            draw.ellipse((x, y, x + size, y + size), fill=fill)
        elif shape == "square":
            draw.rectangle((x, y, x + size, y + size), fill=fill)
        else:
            draw.polygon(((x + size / 2, y), (x, y + size), (x + size, y + size)), fill=fill)
        shapes.add(shape)
        colours.add(colour)
    tags = [s for s in SHAPES if s in shapes] + [c for c in COLOURS if c in colours]
    return image, tags


def _is_complete(folder: Path) -> bool:
    labels = folder / "labels.csv"
    if not labels.is_file():
        return False
    with open(labels, newline="", encoding="utf-8") as f:
        names = [row["file"] for row in csv.DictReader(f)]
    return bool(names) and all((folder / n).is_file() and (folder / n).stat().st_size > 0
                               for n in names)
