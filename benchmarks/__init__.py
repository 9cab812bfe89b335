"""Side-by-side benchmarks: vivavoce against plain aiortc (and, later, the language server).

Entry point: ``python -m benchmarks.run [--quick] [--out FILE] [--only NAME]``.

Shared measuring code lives in small modules that import neither vivavoce nor aiortc at
module level, so both the baseline and the product use exactly the same instruments:

* :mod:`.stats` — median / percentile helpers and the result-record shape.
* :mod:`.audio` — test signals (click bursts, a tone) and onset detection on received audio.
* :mod:`.procstat` — CPU time and peak RSS of a set of processes, measured from outside.
* :mod:`.harness` — the JSON-lines protocol between the runner and its client subprocesses.
"""
