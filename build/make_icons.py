"""Draw Doorstep's app icon with Pillow and write every format the builds use.

    python build/make_icons.py

    python build/make_icons.py linux    # only the Linux package's icons

writes `static/img/doorstep.png` (512 px: the window icon, read at run time through
`desktop.locations.resource_path`), `build/icons/doorstep.ico` (Windows exe),
`build/icons/doorstep.icns` (macOS bundle) and the Linux package's hicolor theme icons,
`build/linux/icons/hicolor/{48x48,128x128,256x256}/apps/<APP_ID>.png` and
`scalable/apps/<APP_ID>.svg` (the SVG drawn from the same figures as the PNGs). The outputs
are committed, so a build needs no Pillow; run this only to change the icon. Pillow is a
dev-time dependency of this script only.
"""

from __future__ import annotations

import sys
from pathlib import Path

from PIL import Image, ImageDraw

ROOT = Path(__file__).resolve().parent.parent
PNG = ROOT / "static" / "img" / "doorstep.png"
ICO = ROOT / "build" / "icons" / "doorstep.ico"
ICNS = ROOT / "build" / "icons" / "doorstep.icns"
# The freedesktop application id (build/build.py's APP_ID): icon themes look icons up by it.
APP_ID = "org.doorstep.Doorstep"
HICOLOR = ROOT / "build" / "linux" / "icons" / "hicolor"
HICOLOR_SIZES = (48, 128, 256)

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


def svg() -> str:
    """Return the icon as SVG: the same shapes and colours as draw(), on its 1024 px grid."""

    def rgb(colour: tuple[int, int, int]) -> str:
        return "#{:02x}{:02x}{:02x}".format(*colour)

    # Every figure below is draw()'s: change them together.
    return f"""<svg xmlns="http://www.w3.org/2000/svg" width="1024" height="1024" viewBox="0 0 1024 1024">
  <title>Doorstep</title>
  <defs>
    <linearGradient id="bg" x1="0" y1="0" x2="0" y2="1024" gradientUnits="userSpaceOnUse">
      <stop offset="0" stop-color="{rgb(BLUE_TOP)}"/>
      <stop offset="1" stop-color="{rgb(BLUE_BOTTOM)}"/>
    </linearGradient>
  </defs>
  <rect x="64" y="64" width="896" height="896" rx="200" fill="url(#bg)"/>
  <rect x="322" y="212" width="380" height="570" rx="40" fill="{rgb(FRAME)}"/>
  <rect x="358" y="248" width="308" height="534" rx="22" fill="#172554"/>
  <polygon points="358,248 600,284 600,772 358,782" fill="{rgb(DOOR)}"/>
  <circle cx="556" cy="530" r="20" fill="{rgb(KNOB)}"/>
  <rect x="268" y="782" width="488" height="60" rx="18" fill="{rgb(STEP)}"/>
</svg>
"""


def write_linux_icons(big: Image.Image) -> list[Path]:
    """Write the hicolor theme's PNGs (48, 128, 256 px) and its scalable SVG; return them."""
    written = []
    for size in HICOLOR_SIZES:
        path = HICOLOR / f"{size}x{size}" / "apps" / f"{APP_ID}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        big.resize((size, size), Image.Resampling.LANCZOS).save(path, optimize=True)
        written.append(path)
    path = HICOLOR / "scalable" / "apps" / f"{APP_ID}.svg"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(svg(), encoding="utf-8")
    written.append(path)
    return written


def main(argv: list[str] | None = None) -> None:
    """Write every icon, or only the Linux package's with the argument `linux`."""
    which = (sys.argv[1:] if argv is None else argv) or ["all"]
    big = draw()
    if which == ["linux"]:
        for path in write_linux_icons(big):
            print(f"wrote {path.relative_to(ROOT)} ({path.stat().st_size // 1024} KiB)")
        return
    PNG.parent.mkdir(parents=True, exist_ok=True)
    ICO.parent.mkdir(parents=True, exist_ok=True)
    big.resize((512, 512), Image.Resampling.LANCZOS).save(PNG, optimize=True)
    big.save(ICO, sizes=[(16, 16), (24, 24), (32, 32), (48, 48), (64, 64), (128, 128), (256, 256)])
    big.save(ICNS)  # Pillow writes the standard sizes up to 1024 px
    for path in (PNG, ICO, ICNS, *write_linux_icons(big)):
        print(f"wrote {path.relative_to(ROOT)} ({path.stat().st_size // 1024} KiB)")


if __name__ == "__main__":
    main()
