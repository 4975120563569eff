"""Similar training beats and records: nearest neighbours in the shared 128-d space (cosine distance)."""
from __future__ import annotations

import numpy as np
import pandas as pd

from core.explain.explanation import _require_assets
from core.explain.head import _check_beat


# ---- similar training beats ----------------------------------------------------------------------
def similar_cases(case, bundle, beat_index: int | None = None, k: int = 5) -> pd.DataFrame:
    """Nearest training beats (or records) in the shared space, by cosine distance (1 - cos).

    With ``beat_index``: the ``k`` nearest training beats, columns ``index`` (row of the bundle's
    index, for ``ExplainAssets.index_window``), ``record, sample, symbol, aami, distance``.
    With ``beat_index=None``: the query is the mean embedding of the case's flagged beats (all beats
    when none is flagged) and the ``k`` nearest training RECORDS are returned: ``record, distance``
    (nearest beat), ``sample, symbol`` (of that beat), ``dominant_class`` and ``class_share`` among the
    record's 10 nearest beats, ``n_index_beats``.
    """
    assets = _require_assets(bundle, "similar cases")
    if len(case.beats) == 0:
        raise ValueError("The case has no beats, so there is nothing to compare with training beats.")
    if beat_index is not None:
        q = case.z[_check_beat(case, beat_index)]
    else:
        flagged = case.table["predicted"].to_numpy() == 1
        q = case.z[flagged].mean(0) if flagged.any() else case.z.mean(0)
    q = np.asarray(q, np.float32) / max(float(np.linalg.norm(q)), 1e-12)
    dist = 1.0 - assets.index_z @ q
    aami = assets.index_aami
    if beat_index is not None:
        top = np.argsort(dist, kind="stable")[:k]
        return pd.DataFrame({"index": top, "record": assets.index_record[top], "sample": assets.index_sample[top],
                             "symbol": assets.index_symbol[top], "aami": aami[top], "distance": dist[top]})
    rows = []
    for rec in np.unique(assets.index_record):
        sel = np.flatnonzero(assets.index_record == rec)
        near = sel[np.argsort(dist[sel], kind="stable")[:10]]
        classes, counts = np.unique(aami[near], return_counts=True)
        rows.append({"record": rec, "distance": float(dist[near[0]]), "sample": int(assets.index_sample[near[0]]),
                     "symbol": assets.index_symbol[near[0]], "dominant_class": classes[np.argmax(counts)],
                     "class_share": float(counts.max() / len(near)), "n_index_beats": len(sel)})
    return pd.DataFrame(rows).sort_values("distance", kind="stable").head(k).reset_index(drop=True)
