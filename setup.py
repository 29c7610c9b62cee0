"""What setup.cfg cannot say: the wheel carries the site's pages, assets and migrations, kept
at the top of the repository, inside the package (webhooks/templates, webhooks/static,
webhooks/migrations), and the translations compiled from their catalogues (.po -> .mo, which
are not committed). ``webhooks.resource_dir`` finds them there once installed."""

import shutil
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent
BESIDE_THE_PACKAGE = ("templates", "static", "migrations")
CATALOGUES = ROOT / "webhooks" / "translations"


class BuildWithResources(build_py):
    def run(self):
        super().run()
        if getattr(self, "editable_mode", False):
            return  # an editable install runs from the checkout, which has them all
        package = Path(self.build_lib) / "webhooks"
        for name in BESIDE_THE_PACKAGE:
            target = package / name
            shutil.rmtree(target, ignore_errors=True)
            shutil.copytree(
                ROOT / name, target, ignore=shutil.ignore_patterns("__pycache__", "*.pyc")
            )
        for catalogue in CATALOGUES.glob("*/LC_MESSAGES/messages.po"):
            compiled = package / catalogue.relative_to(ROOT / "webhooks").with_suffix(".mo")
            compiled.parent.mkdir(parents=True, exist_ok=True)
            with catalogue.open("rb") as source:
                messages = read_po(source, locale=catalogue.parent.parent.name)
            with compiled.open("wb") as target:
                write_mo(target, messages)  # fuzzy entries left out, as `pybabel compile` does


setup(cmdclass={"build_py": BuildWithResources})
