"""From a Record to the model's inputs: cleaning, R peaks, VF episodes, delineation, features, beats.

Modules, in pipeline order: ``clean`` (``ecg_clean``) -> ``peaks`` (``detect_rpeaks``, ``ecg_peaks``:
R peaks and VF episodes from one run) with ``vf`` (``detect_vf_episodes``) -> ``delineate`` (P/QRS/T)
-> ``features`` (``beat_features``, ``FEATURE_UNITS``) -> ``beats`` (``extract_beats`` -> ``BeatSet``,
the one beat container; ``match_reference``); ``resample`` holds lead choice and resampling.
"""
from core.signal.beats import BeatSet, extract_beats, match_annotations, match_reference
from core.signal.clean import ecg_clean
from core.signal.peaks import detect_rpeaks, ecg_peaks
from core.signal.vf import detect_vf_episodes

__all__ = ["BeatSet", "detect_rpeaks", "detect_vf_episodes", "ecg_clean", "ecg_peaks", "extract_beats",
           "match_annotations", "match_reference"]
