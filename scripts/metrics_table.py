"""Print, or write into README.md, the results tables of a bundle's metrics.json and zeroshot.json.

    python -m scripts.metrics_table [BUNDLE]            # print the generated blocks (default: the default bundle)
    python -m scripts.metrics_table --write [BUNDLE]    # rewrite README.md between the markers

The zero-shot block comes from the V/F-held-out bundle (``config.ZEROSHOT_MODEL_VERSION``).

One renderer (``core.report.tables``) makes these tables and the model card's.
"""
from __future__ import annotations

import argparse

from core import config
from core.report.tables import readme_blocks, render_readme


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("bundle", nargs="?", default=str(config.MODELS_DIR / config.DEFAULT_MODEL_VERSION))
    ap.add_argument("--write", action="store_true", help="rewrite the marked blocks of README.md")
    args = ap.parse_args(argv)
    blocks = readme_blocks(args.bundle, config.MODELS_DIR / config.ZEROSHOT_MODEL_VERSION)
    if args.write:
        readme = config.REPO_ROOT / "README.md"
        readme.write_text(render_readme(readme.read_text(encoding="utf-8"), blocks), encoding="utf-8")
        print(f"rewrote {', '.join(blocks)} in {readme}")
    else:
        print("\n\n".join(blocks.values()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
