"""The benchmark: CardioLens's pipeline against a naive one, on the same cases, in one run
(``python -m core bench``; method and measurements in ``core.bench.run``). ``pipelines`` holds the two
pipelines, ``run`` the timing, cold starts, report and command line."""
from core.bench.run import main

__all__ = ["main"]
