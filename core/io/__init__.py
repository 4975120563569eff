"""Read ECG records from WFDB, CSV, EDF, NPY and zip files, or from an uploaded bundle, into one `Record`.

Modules: ``record`` (Record, Annotations, RecordReadError, the checks every reader shares),
``read`` (``read_record``: paths, folders and uploads), ``wfdb``, ``csv``, ``edf``, ``npy`` (one
reader each), ``archive`` (zip safety), ``write`` (CSV and EDF writers). The names below are the
public API, re-exported here so callers write ``from core.io import read_record``.

Example
-------
>>> from core.io import read_record
>>> rec = read_record("../shared/data/mitdb/100.hea")              # doctest: +SKIP
>>> rec.fs, rec.lead_names, rec.duration_s                         # doctest: +SKIP
(360.0, ['MLII', 'V5'], 1805.5555555555557)
"""
from core.io.read import read_record
from core.io.record import Annotations, Record, RecordReadError
from core.io.write import write_csv, write_edf

__all__ = ["Annotations", "Record", "RecordReadError", "read_record", "write_csv", "write_edf"]
