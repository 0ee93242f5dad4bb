"""Compiles the translations into the wheel; everything else is in pyproject.toml."""

from __future__ import annotations

from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

TRANSLATIONS = Path("webapp", "translations")


def compile_catalogues(source: Path, target: Path) -> list[Path]:
    """Write a .mo beside (under `target`) each .po under `source`; return the .mo paths."""
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po

    written = []
    for po in sorted(source.glob("*/LC_MESSAGES/*.po")):
        mo = target / po.relative_to(source).with_suffix(".mo")
        mo.parent.mkdir(parents=True, exist_ok=True)
        with po.open("rb") as po_file:
            catalog = read_po(po_file)
        with mo.open("wb") as mo_file:
            write_mo(mo_file, catalog)
        written.append(mo)
    return written


class BuildPyWithCatalogues(build_py):
    """build_py that also puts the compiled .mo files in the wheel (they are not committed)."""

    def run(self) -> None:
        """Copy the packages, then compile the catalogues into the build folder."""
        super().run()
        if not self.editable_mode:  # an editable install reads the checkout's own .mo files
            compile_catalogues(TRANSLATIONS, Path(self.build_lib) / TRANSLATIONS)


setup(cmdclass={"build_py": BuildPyWithCatalogues})
