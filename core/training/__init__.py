"""Training and evaluation (never imported at run time; only ``core.cli`` loads it, for train/evaluate).

``dataset`` (beat tables from MIT-BIH, cached) -> ``losses`` + ``loop`` (train one model) ->
``calibration`` (Platt, F1 threshold) -> ``metrics`` (ECE, binary report, AUC) + ``baseline``
(gradient boosting) -> ``experiment`` (the whole run that writes a bundle) and ``evaluate``
(metrics tables of a shipped bundle, without training).
"""
