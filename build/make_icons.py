"""Draw Doorstep's app icon with Pillow and write every format the builds use.

    python build/make_icons.py

writes `static/img/doorstep.png` (512 px: the window icon, read at run time through
`desktop.locations.resource_path`), `build/icons/doorstep.ico` (Windows exe) and
`build/icons/doorstep.icns` (macOS bundle). The outputs are committed, so a build needs no
Pillow; run this only to change the icon. Pillow is a dev-time dependency of this script only.
"""

from __future__ import annotations

from pathlib import Path

from PIL import Image, ImageDraw

ROOT = Path(__file__).resolve().parent.parent
PNG = ROOT / "static" / "img" / "doorstep.png"
ICO = ROOT / "build" / "icons" / "doorstep.ico"
ICNS = ROOT / "build" / "icons" / "doorstep.icns"

SIZE = 1024  # drawn large, scaled down with antialiasing
BLUE_TOP = (37, 99, 235)  # Bootstrap-ish blue, lighter at the top
BLUE_BOTTOM = (29, 78, 216)
DOOR = (255, 255, 255)
FRAME = (219, 234, 254)
STEP = (191, 219, 254)
KNOB = (29, 78, 216)


def draw(size: int = SIZE) -> Image.Image:
    """Return the icon: a rounded blue square, a white door ajar in its frame, a step."""
    s = size / 1024
    img = Image.new("RGBA", (size, size), (0, 0, 0, 0))

    # Background: rounded square with a vertical gradient (masked).
    grad = Image.new("RGBA", (size, size))
    gd = ImageDraw.Draw(grad)
    for y in range(size):
        t = y / (size - 1)
        colour = tuple(round(a + (b - a) * t) for a, b in zip(BLUE_TOP, BLUE_BOTTOM, strict=True))
        gd.line([(0, y), (size, y)], fill=(*colour, 255))
    mask = Image.new("L", (size, size), 0)
    margin = round(64 * s)
    ImageDraw.Draw(mask).rounded_rectangle(
        [margin, margin, size - margin, size - margin], radius=round(200 * s), fill=255
    )
    img.paste(grad, (0, 0), mask)

    d = ImageDraw.Draw(img)
    # Door frame (light) with a rounded top, and the dark opening inside it.
    fx0, fy0, fx1, fy1 = (round(v * s) for v in (322, 212, 702, 782))
    d.rounded_rectangle([fx0, fy0, fx1, fy1], radius=round(40 * s), fill=FRAME)
    ox0, oy0, ox1, oy1 = (round(v * s) for v in (358, 248, 666, 782))
    d.rounded_rectangle([ox0, oy0, ox1, oy1], radius=round(22 * s), fill=(23, 37, 84))
    # The door, slightly ajar: a white panel narrower at its free edge (perspective).
    hinge_x, free_x = ox0, round(600 * s)
    d.polygon(
        [
            (hinge_x, oy0),
            (free_x, oy0 + round(36 * s)),
            (free_x, oy1 - round(10 * s)),
            (hinge_x, oy1),
        ],
        fill=DOOR,
    )
    # Knob.
    r = round(20 * s)
    kx, ky = free_x - round(44 * s), round(530 * s)
    d.ellipse([kx - r, ky - r, kx + r, ky + r], fill=KNOB)
    # The doorstep itself.
    d.rounded_rectangle(
        [round(268 * s), round(782 * s), round(756 * s), round(842 * s)],
        radius=round(18 * s),
        fill=STEP,
    )
    return img


def main() -> None:
    big = draw()
    PNG.parent.mkdir(parents=True, exist_ok=True)
    ICO.parent.mkdir(parents=True, exist_ok=True)
    big.resize((512, 512), Image.LANCZOS).save(PNG, optimize=True)
    big.save(ICO, sizes=[(16, 16), (24, 24), (32, 32), (48, 48), (64, 64), (128, 128), (256, 256)])
    big.save(ICNS)  # Pillow writes the standard sizes up to 1024 px
    for path in (PNG, ICO, ICNS):
        print(f"wrote {path.relative_to(ROOT)} ({path.stat().st_size // 1024} KiB)")


if __name__ == "__main__":
    main()
