"""CardioLens core: a small library for explainable ECG + clinical-note AI.

Data flows one way: ``core.io`` (files -> Record) -> ``core.signal`` (clean, R-peaks, beat windows)
-> ``core.features`` (clinical measurements) -> ``core.models`` / ``core.predict`` (probabilities)
-> ``core.zeroshot`` / ``core.explain`` (prompts, SHAP, attention) -> ``core.report`` (HTML).
No Streamlit here: the pages in ``pages/`` only compose these functions.
"""

__version__ = "0.1.0"
