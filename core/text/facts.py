"""The fact vocabulary of a referral note, and which facts a referring clinician plausibly knows per record.

A *fact* is context a clinician knows before the strip is read (pacemaker, known AF, bundle-branch block,
drugs that change the ECG, the reason for the recording, a recording problem). Each fact declares its
clinical effect in one line and the ECG inputs (feature names) it bears on, so that a fused head may
only let the fact move the beats where it matters (``fusion.FactGatedHead``).

Sources of the facts assigned per record (``record_facts``), each fact carries its own:

- ``header demographics`` / ``header medications``: MIT-BIH header comment lines 1-2 (age, sex, drugs).
- ``header remark``: the MIT-BIH header free-text remark lines, mapped by keyword rules
  (``REMARK_RULES``) to *documented diagnoses* only (pacemaker, AF/flutter, BBB, AV block, sick sinus,
  noise/artefact). The remarks were written by the database annotators about this tape; their beat
  and ectopy descriptions ("The PVCs are multiform") are never used.
- ``database description``: records 102, 104, 107 and 217 are the paced records of MIT-BIH
  (PhysioNet MIT-BIH Arrhythmia Database directory, https://physionet.org/content/mitdb/1.0.0/ :
  "4 records (102, 104, 107, and 217) that include paced beats"; Moody & Mark 2001).
- ``reference rhythm annotation``: optional (``rhythm_fractions``), a rhythm the reference annotation
  shows for a large part of the record (e.g. AFIB) -> "known" fact. Label these on the model card.
- ``database purpose (assumption)``: SVDB records have no header comments; the only plausible prior
  knowledge is the reason for a Holter in a supraventricular-arrhythmia study (palpitations).

Beat labels are never read.
"""
from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

__all__ = [
    "Fact",
    "FACTS",
    "FACT_NAMES",
    "AssignedFact",
    "Demographics",
    "PACED_RECORDS",
    "REMARK_RULES",
    "DRUG_CLASSES",
    "parse_header",
    "record_facts",
]


@dataclass(frozen=True)
class Fact:
    """One fact of the vocabulary: what it is, what it does to the ECG reading, which ECG inputs it may read."""

    name: str
    description: str
    effect: str
    ecg_inputs: tuple[str, ...]  # feature names (core.signal.beats.BEAT_FEATURE_UNITS) the fact bears on
    #: which way the fact may move a beat's abnormality logit: +1 only up (a pacemaker makes paced beats, AAMI Q,
    #: expected and never makes another beat less suspicious), -1 only down (a known baseline explains a finding
    #: away), 0 either way
    direction: int = 0


FACTS: tuple[Fact, ...] = (
    Fact("PACEMAKER", "permanent pacemaker (any mode)",
         "paced beats are expected; a pacing spike before a wide QRS is this patient's normal",
         ("spike_amp_mv", "paced_spike", "qrs_ms", "qrs_width_rel", "template_dist", "rr_pre_record_ratio"), direction=+1),
    Fact("AF_FLUTTER", "known atrial fibrillation or flutter (paroxysmal or permanent)",
         "an irregular RR without P waves is the baseline, not by itself an ectopic beat",
         ("rr_pre_local_ratio", "rr_pre_prev10_ratio", "rr_post_prev10_ratio", "rr_pre_regular_ratio", "rr_post_pre_ratio", "hrv_rmssd_ms", "p_template_corr"), direction=-1),
    Fact("BBB", "left or right bundle-branch block (QRS-widening conduction disease)",
         "a wide QRS is this patient's baseline, not by itself a ventricular beat",
         ("qrs_ms", "qrs_width_rel", "qrs_amp_mv", "t_amp_mv", "template_dist"), direction=-1),
    Fact("AV_BLOCK", "first-degree AV block or higher-grade heart block",
         "a long PR is the baseline; dropped or escape beats are expected",
         ("pr_ms", "rr_pre_local_ratio", "rr_post_pre_ratio")),
    Fact("SICK_SINUS", "sick sinus syndrome, sinus pauses or sinus bradycardia",
         "pauses and slow rates are expected; beats after a pause are escape, not premature",
         ("rr_pre_ms", "rr_pre_local_ratio", "rr_pre_regular_ratio"), direction=-1),
    Fact("DIGOXIN", "on digoxin",
         "digoxin slows AV conduction and can cause ectopy; scooped ST, long PR",
         ("pr_ms", "t_amp_mv", "rr_pre_local_ratio")),
    Fact("BETA_BLOCKER", "on a beta-blocker",
         "slower sinus rate and longer PR are expected",
         ("rr_pre_ms", "pr_ms")),
    Fact("ANTIARRHYTHMIC", "on an antiarrhythmic (quinidine, procainamide, disopyramide, amiodarone, ...)",
         "QRS/QT may widen; ectopy may be suppressed or provoked",
         ("qrs_ms", "t_amp_mv", "rr_pre_local_ratio")),
    Fact("REASON_PALPITATIONS", "recorded for palpitations",
         "supraventricular ectopy is more likely a priori (a prior, not a beat feature)",
         ("rr_pre_local_ratio", "rr_pre_prev10_ratio")),
    Fact("REASON_SYNCOPE", "recorded for syncope or presyncope",
         "pauses, block and bradyarrhythmia are of interest a priori",
         ("rr_pre_ms", "rr_pre_local_ratio")),
    Fact("RECORDING_PROBLEM", "known noise, artefact or a loose lead",
         "odd deflections may be artefact, not beats; trust morphology less",
         ("qrs_amp_mv", "qrs_ms", "template_dist", "sqi")),
)
FACT_NAMES: tuple[str, ...] = tuple(f.name for f in FACTS)

#: PhysioNet MIT-BIH directory: "4 records (102, 104, 107, and 217) that include paced beats".
PACED_RECORDS = frozenset({"102", "104", "107", "217"})

#: Keyword rules over the header remark lines -> documented diagnosis facts. Order-free; each a regex.
REMARK_RULES: dict[str, re.Pattern] = {
    # 'wandering atrial pacemaker' (113) is a sinus-rhythm variant, not a device.
    "PACEMAKER": re.compile(r"\b(?:paced|demand pacemaker|pacemaker fusion)\b", re.I),
    "AF_FLUTTER": re.compile(r"\batrial (?:fibrillation|flutter)\b|\batrial flutter/fibrillation\b", re.I),
    "BBB": re.compile(r"\bbundle branch block\b", re.I),
    "AV_BLOCK": re.compile(r"\b(?:AV block|heart block|Mobitz)\b", re.I),
    "SICK_SINUS": re.compile(r"\b(?:sick sinus|sinus bradycardia)\b", re.I),
    "RECORDING_PROBLEM": re.compile(r"\b(?:high-grade noise|severe noise|considerable noise|tape slippage|artifactual)\b", re.I),
}

#: Drug names (generic and brand, lower case) -> drug-class fact. Dilantin (phenytoin) is left out:
#: an anticonvulsant first, class IB only in digoxin toxicity.
DRUG_CLASSES: dict[str, str] = {
    **dict.fromkeys(["digoxin", "lanoxin", "digitalis"], "DIGOXIN"),
    **dict.fromkeys(["inderal", "propranolol", "metoprolol", "lopressor", "atenolol", "tenormin", "bisoprolol",
                     "carvedilol", "nadolol", "sotalol"], "BETA_BLOCKER"),
    **dict.fromkeys(["quinidine", "quinaglute", "quinidex", "procainamide", "pronestyl", "disopyramide", "norpace",
                     "amiodarone", "cordarone", "flecainide", "tambocor", "propafenone", "mexiletine", "sotalol",
                     "dronedarone"], "ANTIARRHYTHMIC"),
}

#: Rhythm codes of the reference annotation that make a fact 'known' when they cover enough of the record.
_RHYTHM_FACTS = {"(AFIB": "AF_FLUTTER", "(AFL": "AF_FLUTTER", "(P": "PACEMAKER", "(BI": "AV_BLOCK",
                 "(BII": "AV_BLOCK", "(BIII": "AV_BLOCK", "(SBR": "SICK_SINUS"}


@dataclass(frozen=True)
class AssignedFact:
    """A fact that a record's note will state (``negated=False``) or deny, and where it came from."""

    name: str
    source: str
    evidence: str = ""
    negated: bool = False


@dataclass
class Demographics:
    """Age (years), sex ('male' / 'female') and medication names as written in the header."""

    age: int | None = None
    sex: str | None = None
    medications: list[str] = field(default_factory=list)
    remarks: list[str] = field(default_factory=list)


_DEMO = re.compile(r"^\s*(-?\d{1,3}|\?)\s+([MF?])\b", re.I)


def parse_header(comments: Sequence[str]) -> Demographics:
    """Minimal MIT-BIH header parse: line 1 ``'<age> <sex> ...'`` (-1 / ? = unknown), line 2 drugs
    (``'None'`` = none), the rest free-text remarks. Other layouts: everything becomes remarks."""
    lines = [str(c).lstrip("#").strip() for c in comments]
    lines = [c for c in lines if c]
    demo = Demographics()
    if not lines or not (m := _DEMO.match(lines[0])):
        demo.remarks = lines
        return demo
    age = int(m.group(1)) if m.group(1).lstrip("-").isdigit() else -1
    demo.age = age if 0 <= age <= 120 else None
    demo.sex = {"m": "male", "f": "female"}.get(m.group(2).lower())
    if len(lines) > 1:
        if lines[1].strip(" .").lower() != "none":
            demo.medications = [d.strip(" .") for d in re.split(r"[,;]", lines[1]) if d.strip(" .")]
        demo.remarks = lines[2:]
    return demo


def _drug_facts(medications: Sequence[str]) -> list[AssignedFact]:
    out: dict[str, AssignedFact] = {}
    for drug in medications:
        for word in re.findall(r"[a-z]+", drug.lower()):
            if (name := DRUG_CLASSES.get(word)) and name not in out:
                out[name] = AssignedFact(name, "header medications", drug)
    return list(out.values())


def record_facts(header_comments: Sequence[str], record_name: str, database: str = "mitdb",
                 rhythm_fractions: Mapping[str, float] | None = None, min_rhythm_fraction: float = 0.05,
                 ) -> tuple[list[AssignedFact], Demographics]:
    """Facts a referring clinician would plausibly know about a record, each with its source.

    ``header_comments``: WFDB header comment lines; ``database``: 'mitdb' or 'svdb'.
    ``rhythm_fractions``: optional share of annotated time per reference rhythm code (e.g.
    ``{'(N': 0.6, '(AFIB': 0.4}``); a code in ``_RHYTHM_FACTS`` covering at least
    ``min_rhythm_fraction`` adds its fact with source 'reference rhythm annotation' (unless the header
    already documents it). Returns (facts, demographics); facts are never negated here (the note
    generator adds negations of absent facts as paraphrase material).
    """
    database = database.lower()
    if database == "svdb":
        # No header comments at all: only the study's purpose is plausible prior knowledge.
        return [AssignedFact("REASON_PALPITATIONS", "database purpose (assumption)",
                             "SVDB: Holter recordings chosen for supraventricular arrhythmias")], Demographics()
    demo = parse_header(header_comments)
    facts = {f.name: f for f in _drug_facts(demo.medications)}
    remark = " ".join(demo.remarks)
    for name, rule in REMARK_RULES.items():
        if name not in facts and (m := rule.search(remark)):
            # evidence = the remark sentence that matched (the generator picks terms that fit it)
            start = remark.rfind(".", 0, m.start()) + 1
            end = remark.find(".", m.end())
            facts[name] = AssignedFact(name, "header remark", remark[start:end if end >= 0 else None].strip())
    if str(record_name) in PACED_RECORDS and "PACEMAKER" not in facts:
        facts["PACEMAKER"] = AssignedFact("PACEMAKER", "database description", "MIT-BIH paced record")
    for code, share in (rhythm_fractions or {}).items():
        name = _RHYTHM_FACTS.get(code)
        if name and share >= min_rhythm_fraction and name not in facts:
            facts[name] = AssignedFact(name, "reference rhythm annotation", f"{code} {share:.0%} of annotated time")
    order = {n: i for i, n in enumerate(FACT_NAMES)}
    return sorted(facts.values(), key=lambda f: order[f.name]), demo
