#!/usr/bin/env python3
"""Generates the small, clearly synthetic "medical-like" demo images in data/images/ (plus captions.csv and
SOURCES.md). Nothing here is real patient data: every image is drawn from geometric shapes and seeded noise.
Needs numpy + Pillow (Debian: apt-get install python3-pil python3-numpy). Deterministic: same output every run."""
import csv, os
import numpy as np
from PIL import Image

OUT = os.path.join(os.path.dirname(__file__), "..", "..", "data", "images")
rng = np.random.default_rng(20241128)

def grid(n):
    y, x = np.mgrid[0:n, 0:n].astype(np.float64)
    return x / (n - 1) * 2 - 1, y / (n - 1) * 2 - 1   # [-1, 1]

def blur(a, k=5):
    """Separable box blur (keeps the generator free of SciPy)."""
    ker = np.ones(k) / k
    a = np.apply_along_axis(lambda r: np.convolve(r, ker, mode="same"), 1, a)
    return np.apply_along_axis(lambda c: np.convolve(c, ker, mode="same"), 0, a)

def to_u8(a):
    return np.clip(a * 255 + 0.5, 0, 255).astype(np.uint8)

def chest_xray(n=512):
    x, y = grid(n)
    img = 0.25 + 0.15 * (y + 1) / 2                        # soft vertical gradient
    for cx in (-0.42, 0.42):                               # two dark lung fields
        lung = ((x - cx) / 0.33) ** 2 + ((y + 0.05) / 0.62) ** 2 < 1
        img = np.where(lung, img - 0.15, img)
    img += 0.35 * np.exp(-(x / 0.13) ** 2) * (y > -0.7)     # bright mediastinum/spine
    for i in range(9):                                     # rib-like arcs on both sides
        r0 = -0.55 + i * 0.13
        for side in (-1, 1):
            arc = np.abs((y - r0) - 0.25 * ((x * side - 0.05) ** 2)) < 0.018
            img = np.where(arc & (np.abs(x) > 0.12) & (np.abs(x) < 0.85), img + 0.18, img)
    img += 0.25 * np.exp(-(((x - 0.12) / 0.2) ** 2 + ((y - 0.35) / 0.18) ** 2))  # heart shadow
    img = blur(img + rng.normal(0, 0.012 * 2, img.shape), 7)
    return Image.fromarray(to_u8(img), "L")

def ct_head(n=384):
    x, y = grid(n)
    r = np.sqrt(x ** 2 + (y / 1.15) ** 2)
    img = np.zeros_like(x)
    img = np.where(r < 0.86, 0.95, img)                    # skull ring
    img = np.where(r < 0.80, 0.42, img)                    # brain
    for ring in (0.3, 0.5, 0.65):                          # faint concentric rings
        img = np.where(np.abs(r - ring) < 0.006, img + 0.06, img)
    vent = (((x - 0.1) / 0.08) ** 2 + (y / 0.25) ** 2 < 1) | (((x + 0.1) / 0.08) ** 2 + (y / 0.25) ** 2 < 1)
    img = np.where(vent & (r < 0.8), 0.15, img)            # dark ventricles
    img = blur(img + rng.normal(0, 0.015 * 2, img.shape), 3)
    return Image.fromarray(to_u8(img), "L")

def ct_abdomen_16bit(n=384):
    """16-bit PNG in Hounsfield-like units + 1024 (air 0, water 1024, bone ~2000): shows the loader's min-max mapping."""
    x, y = grid(n)
    hu = np.full(x.shape, -1000.0)
    body = (x / 0.9) ** 2 + (y / 0.65) ** 2 < 1
    hu = np.where(body, -90.0, hu)                          # fat
    hu = np.where((x / 0.8) ** 2 + (y / 0.55) ** 2 < 1, 40.0, hu)   # soft tissue
    hu = np.where(((x + 0.35) / 0.3) ** 2 + ((y + 0.05) / 0.28) ** 2 < 1, 60.0, hu)  # liver-like organ
    hu = np.where((x / 0.1) ** 2 + ((y - 0.38) / 0.1) ** 2 < 1, 700.0, hu)          # vertebra
    hu = np.where(((x - 0.05) / 0.06) ** 2 + ((y - 0.15) / 0.06) ** 2 < 1, 200.0, hu)  # contrast-filled vessel
    hu = blur(hu + rng.normal(0, 8, hu.shape), 3)
    return Image.fromarray(np.clip(hu + 1024, 0, 65535).astype(np.uint16), "I;16")

def mri_brain(n=320):
    x, y = grid(n)
    r = np.sqrt((x / 0.8) ** 2 + (y / 0.92) ** 2)
    folds = 0.5 + 0.5 * np.sin(14 * np.arctan2(y, x) + 10 * r)
    img = np.where(r < 1, 0.35 + 0.25 * folds * (r > 0.55), 0.02)  # cortex folds at the rim
    img = np.where(r < 0.55, 0.7, img)                       # bright white-matter blob
    img += 0.2 * np.exp(-(((x - 0.3) / 0.12) ** 2 + ((y + 0.2) / 0.1) ** 2))  # a bright "lesion" blob
    img = blur(img + rng.normal(0, 0.02 * 2, img.shape), 5)
    return Image.fromarray(to_u8(img), "L")

def ultrasound(n=320):
    x, y = grid(n)
    ang, rad = np.arctan2(x, y + 1.0), np.sqrt(x ** 2 + (y + 1.0) ** 2)
    fan = (np.abs(ang) < 0.6) & (rad > 0.25) & (rad < 1.9)
    speckle = blur(rng.rayleigh(0.25, x.shape), 3)
    img = np.where(fan, 0.15 + speckle * (1.1 - rad / 2.2), 0.0)
    cyst = ((x - 0.05) / 0.22) ** 2 + ((y - 0.2) / 0.16) ** 2 < 1
    img = np.where(cyst & fan, 0.04, img)                     # dark round cyst
    img = np.where(cyst & fan & (y > 0.33), img + 0.0, img)
    return Image.fromarray(to_u8(img), "L").convert("RGB")

def skin_lesion(n=320):
    x, y = grid(n)
    base = np.stack([0.87 + 0 * x, 0.68 + 0 * x, 0.58 + 0 * x], -1) + rng.normal(0, 0.01, x.shape + (3,))
    ang = np.arctan2(y, x)
    edge = 0.45 + 0.06 * np.sin(5 * ang) + 0.04 * np.sin(11 * ang + 1)
    lesion = np.sqrt(x ** 2 + y ** 2) < edge
    brown = np.stack([0.45 + 0 * x, 0.28 + 0 * x, 0.18 + 0 * x], -1)
    img = np.where(lesion[..., None], brown + 0.08 * np.sin(9 * x)[..., None], base)
    img = np.stack([blur(img[..., c], 5) for c in range(3)], -1)
    return Image.fromarray(to_u8(img), "RGB")

def histology(n=320):
    img = np.stack([np.full((n, n), 0.93), np.full((n, n), 0.72), np.full((n, n), 0.82)], -1)
    y, x = np.mgrid[0:n, 0:n]
    for _ in range(140):                                    # purple nuclei
        cx, cy, r = rng.uniform(0, n), rng.uniform(0, n), rng.uniform(3, 7)
        m = (x - cx) ** 2 + (y - cy) ** 2 < r * r
        img[m] = (0.42, 0.25, 0.6)
    img = np.stack([blur(img[..., c], 3) for c in range(3)], -1) + rng.normal(0, 0.015, img.shape)
    return Image.fromarray(to_u8(img), "RGB")

def hand_xray(n=384):
    x, y = grid(n)
    img = np.full(x.shape, 0.08)
    palm = (x / 0.45) ** 2 + ((y - 0.45) / 0.4) ** 2 < 1
    img = np.where(palm, 0.35, img)
    for i, fx in enumerate((-0.36, -0.14, 0.08, 0.3)):      # four fingers, three bones each
        for j in range(3):
            y0 = 0.1 - j * 0.27 - (0.08 if i in (1, 2) else 0)
            bone = (np.abs(x - fx) < 0.045) & (y < y0) & (y > y0 - 0.22)
            soft = (np.abs(x - fx) < 0.085) & (y < 0.2) & (y > y0 - 0.25)
            img = np.where(soft & ~palm, np.maximum(img, 0.3), img)
            img = np.where(bone, 0.85, img)
    thumb = (np.abs((x - 0.5) - 0.6 * (y - 0.35)) < 0.05) & (y > 0.05) & (y < 0.55)
    img = np.where(thumb, 0.85, img)
    img = blur(img + rng.normal(0, 0.015 * 2, img.shape), 5)
    return Image.fromarray(to_u8(img), "L")

SAMPLES = [
    ("synthetic_chest_xray.png", chest_xray, "Synthetic frontal chest X-ray-like image: two dark oval lung fields crossed by horizontal rib-like bands, a bright vertical spine band in the middle with a brighter spot at its lower part; no abnormality drawn."),
    ("synthetic_ct_head.png", ct_head, "Synthetic axial head CT-like slice: a bright oval skull ring around uniform gray brain with two dark central ventricles and faint concentric ring artifacts."),
    ("synthetic_ct_abdomen_16bit.png", ct_abdomen_16bit, "Synthetic 16-bit axial abdominal CT-like slice: a gray oval body with a darker outer fat layer, a faintly brighter large organ on the left, a bright round vertebra at the bottom and a small round vessel above it."),
    ("synthetic_mri_brain.png", mri_brain, "Synthetic axial brain MRI-like image: an oval brain whose outer ring shows radial fold-like stripes around a bright central region, with one small brighter blob at the upper right of that region."),
    ("synthetic_ultrasound.jpg", ultrasound, "Synthetic ultrasound-like image: a fan-shaped speckled sector on a black background containing one dark, round, cyst-like area."),
    ("synthetic_skin_lesion.jpg", skin_lesion, "Synthetic dermoscopy-like photo: a brown lesion with an irregular, lobulated border and darker and lighter vertical bands inside, on pale pink skin."),
    ("synthetic_histology.jpg", histology, "Synthetic H&E-like histology patch: pink background with many small, round, purple nucleus-like dots scattered at random."),
    ("synthetic_hand_xray.png", hand_xray, "Synthetic hand X-ray-like image: a gray oval palm at the bottom, four upright fingers of three bright bone segments each and a slanted bright thumb on the right; no fracture drawn."),
]

def main():
    os.makedirs(OUT, exist_ok=True)
    for name, make, _ in SAMPLES:
        path = os.path.join(OUT, name)
        img = make()
        if name.endswith(".jpg"):
            img.save(path, quality=85)
        else:
            img.save(path, optimize=True)
        assert os.path.getsize(path) < 100_000, (name, os.path.getsize(path))
    with open(os.path.join(OUT, "captions.csv"), "w", newline="") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(["image", "caption"])
        for name, _, caption in SAMPLES:
            w.writerow([name, caption])
    with open(os.path.join(OUT, "SOURCES.md"), "w") as fh:
        fh.write("# Demo images — synthetic\n\n")
        fh.write("Every image in this folder is **synthetic**: drawn from geometric shapes and seeded noise by\n"
                 "`tools/imaging/make_sample_images.py` (generated by us, no patient data, not diagnostic).\n"
                 "Licence: the same as this project. `captions.csv` (columns `image,caption`) holds one caption per image.\n\n")
        fh.write("| file | size | what it shows |\n| --- | --- | --- |\n")
        for name, _, caption in SAMPLES:
            im = Image.open(os.path.join(OUT, name))
            kind = {"L": "8-bit gray", "RGB": "RGB", "I;16": "16-bit gray", "I": "16-bit gray"}.get(im.mode, im.mode)
            fh.write(f"| {name} | {im.width}×{im.height} {kind} | {caption} |\n")

if __name__ == "__main__":
    main()
