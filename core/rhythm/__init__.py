"""Rhythm reading from the beat sequence: episodes (AF, runs, bigeminy, pauses, AV block, pacing, noise),
sinus rate, a clinically ordered statement list and a record verdict. Depends only on numpy/scipy/pandas and
plain per-beat arrays; ``rhythm_inputs_from_beats`` adapts a beat-extraction result."""
from core.rhythm.analyse import RhythmResult, analyse_rhythm
from core.rhythm.episodes import LABELS, Episode
from core.rhythm.inputs import rhythm_inputs_from_beats

__all__ = ["LABELS", "Episode", "RhythmResult", "analyse_rhythm", "rhythm_inputs_from_beats"]
