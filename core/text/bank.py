"""Paraphrase bank of the referral-note generator: terms per fact, frames that state or deny a fact,
demographics frames, irrelevant sentences. Written for this project in a clinician's register
(abbreviations as used in UK/US referral letters). No frame contains '.', ';', '!' or '?' inside, so a
frame is one clause for ``recognizer.split_clauses``. Frame order matters: index % 4 == 3 is held out.
"""
from __future__ import annotations

TERMS: dict[str, list[str]] = {
    "PACEMAKER": ["pacemaker", "PPM", "permanent pacemaker", "pacer", "dual-chamber pacemaker", "DDD pacemaker",
                  "VVI pacemaker", "demand pacemaker", "permanent pacing system", "single-chamber PPM", "pacemaker device",
                  "paced rhythm"],
    "AF_FLUTTER": ["AF", "atrial fibrillation", "pAF", "paroxysmal AF", "persistent AF", "permanent AF", "afib", "a-fib",
                   "atrial flutter", "AFL", "AF/flutter", "paroxysmal atrial fibrillation", "fast AF", "flutter"],
    "BBB": ["LBBB", "RBBB", "left bundle branch block", "right bundle branch block", "bundle branch block", "BBB",
            "left bundle-branch block", "right bundle-branch block", "rate-related RBBB", "complete LBBB",
            "intraventricular conduction delay", "broad QRS from known LBBB"],
    "AV_BLOCK": ["1st deg AVB", "first-degree AV block", "first degree heart block", "AV block", "heart block",
                 "complete heart block", "CHB", "2:1 AV block", "Mobitz II", "Mobitz type 1", "prolonged PR interval",
                 "third-degree AV block", "1st degree HB"],
    "SICK_SINUS": ["sick sinus syndrome", "SSS", "sinus node dysfunction", "tachy-brady syndrome", "sinus pauses",
                   "sinus bradycardia", "sinus arrest", "symptomatic bradycardia", "SND", "brady-tachy syndrome"],
    "DIGOXIN": ["digoxin", "Lanoxin", "dig", "digitalis", "digoxin 125 mcg", "digoxin 0.25 mg", "Digoxin"],
    "BETA_BLOCKER": ["propranolol", "Inderal", "metoprolol", "bisoprolol", "atenolol", "a beta-blocker", "beta blocker",
                     "carvedilol", "Lopressor", "nadolol"],
    "ANTIARRHYTHMIC": ["quinidine", "Quinaglute", "procainamide", "Pronestyl", "disopyramide", "Norpace", "amiodarone",
                       "flecainide", "an antiarrhythmic", "propafenone", "mexiletine", "Cordarone"],
    "REASON_PALPITATIONS": ["palpitations", "racing heart", "fluttering in the chest", "heart pounding", "skipped beats",
                            "intermittent palpitations", "a fast heartbeat", "thumping in the chest", "irregular heartbeat sensation",
                            "palps"],
    "REASON_SYNCOPE": ["syncope", "fainting", "blackouts", "collapse", "presyncope", "dizzy spells", "near-syncope",
                       "transient LOC", "funny turns", "syncopal episodes", "light-headed episodes"],
    "RECORDING_PROBLEM": ["loose lead", "noisy recording", "lead artefact", "poor electrode contact", "muscle artifact",
                          "baseline wander", "motion artefact", "electrode came off", "signal dropout", "tremor artefact",
                          "interference on channel 2", "lead fault"],
}

_HISTORY = ["h/o {t}", "known {t}", "PMH: {t}", "background of {t}",
            "hx of {t}", "{t} diagnosed 2016", "{t} on previous ECGs", "pt has {t}",
            "longstanding {t}", "previously documented {t}", "{t} (known)", "past history includes {t}",
            "{t} per GP letter", "known case of {t}", "under cardiology for {t}", "PMHx {t}",
            "established {t}", "{t} noted at last clinic visit", "history significant for {t}", "{t} since 2012",
            "patient with {t}", "{t} documented in the notes", "background: {t}", "has had {t} for years"]
_HISTORY_NEG = ["no {t}", "no known {t}", "no h/o {t}", "no hx of {t}",
                "{t} ruled out", "denies {t}", "negative for {t}", "no previous {t}",
                "never had {t}", "without {t}", "{t}: none", "not known to have {t}",
                "no evidence of {t} in the past", "no documented {t}", "no history of {t}", "free of {t}"]
_DRUG = ["on {t}", "takes {t}", "{t} daily", "currently on {t}",
         "meds include {t}", "Rx {t}", "{t} started recently", "maintained on {t}",
         "long-term {t}", "{t} od", "continues {t}", "regular {t}",
         "prescribed {t}", "{t} as per GP", "on regular {t}", "uses {t}"]
_DRUG_NEG = ["not on {t}", "{t} stopped last year", "no {t}", "off {t}",
             "{t} discontinued", "never took {t}", "{t} withheld", "not taking {t}"]
_REASON = ["c/o {t}", "referred for {t}", "Holter for {t}", "reason for recording: {t}",
           "presents with {t}", "complains of {t}", "ambulatory ECG requested for {t}", "{t} for 3 weeks",
           "indication: {t}", "recurrent {t}", "24h tape for {t}", "episodes of {t}",
           "investigation of {t}", "reports {t}", "recent {t}", "seen in ED with {t}"]
_REASON_NEG = ["denies {t}", "no {t}", "no c/o {t}", "no recent {t}",
               "{t} denied", "no reported {t}", "has not had {t}", "without {t}"]
_RECORDING = ["{t} reported by the technician", "tech notes {t}", "{t} during the recording", "possible {t}",
              "Holter: {t}", "beware {t}", "{t} for part of the tape", "recording affected by {t}",
              "technician comment: {t}", "{t} overnight", "some {t}", "{t} on the upper channel"]
_RECORDING_NEG = ["no {t}", "good signal, no {t}", "no {t} reported", "without {t}",
                  "tech reports no {t}", "clean recording without {t}", "{t}: none", "no {t} noted"]

FRAMES: dict[str, list[str]] = {
    "PACEMAKER": ["{t} in situ", "s/p {t} implant 2014", "{t} inserted 2011", "{t} checked last month",
                  *_HISTORY[:12], "has a {t}", "{t} implanted 2018", "pacing-dependent with {t}", "{t} fitted 2009"],
    "AF_FLUTTER": ["{t} rate controlled", "on anticoagulation for {t}", *_HISTORY, "recurrent {t}"],
    "BBB": [*_HISTORY, "{t} on baseline ECG", "baseline {t}"],
    "AV_BLOCK": [*_HISTORY, "{t} on baseline ECG", "{t} on last ECG"],
    "SICK_SINUS": [*_HISTORY, "{t} under review", "recurrent {t}"],
    "DIGOXIN": _DRUG, "BETA_BLOCKER": _DRUG, "ANTIARRHYTHMIC": _DRUG,
    "REASON_PALPITATIONS": _REASON, "REASON_SYNCOPE": _REASON,
    "RECORDING_PROBLEM": _RECORDING,
}
NEG_FRAMES: dict[str, list[str]] = {
    "PACEMAKER": ["no {t} in situ", "no device", *_HISTORY_NEG, "no {t} or ICD", "no implanted {t}"],
    "AF_FLUTTER": _HISTORY_NEG, "BBB": _HISTORY_NEG, "AV_BLOCK": _HISTORY_NEG, "SICK_SINUS": _HISTORY_NEG,
    "DIGOXIN": _DRUG_NEG, "BETA_BLOCKER": _DRUG_NEG, "ANTIARRHYTHMIC": _DRUG_NEG,
    "REASON_PALPITATIONS": _REASON_NEG, "REASON_SYNCOPE": _REASON_NEG,
    "RECORDING_PROBLEM": _RECORDING_NEG,
}

#: Evidence keywords (from ``AssignedFact.evidence``) -> the terms that say the same thing, so a note
#: for a documented first-degree block does not say "Mobitz II". No match -> all terms of the fact.
TERM_GROUPS: dict[str, list[tuple[str, list[str]]]] = {
    "BBB": [(r"left", ["LBBB", "left bundle branch block", "left bundle-branch block", "complete LBBB", "broad QRS from known LBBB", "bundle branch block", "BBB"]),
            (r"right", ["RBBB", "right bundle branch block", "right bundle-branch block", "rate-related RBBB", "bundle branch block", "BBB"])],
    "AV_BLOCK": [(r"complete|third", ["complete heart block", "CHB", "third-degree AV block", "heart block"]),
                 (r"2:1|mobitz|second", ["2:1 AV block", "Mobitz II", "Mobitz type 1", "AV block", "heart block"]),
                 (r"first", ["1st deg AVB", "first-degree AV block", "first degree heart block", "prolonged PR interval", "1st degree HB", "AV block"])],
    "AF_FLUTTER": [(r"paroxysmal", ["pAF", "paroxysmal AF", "paroxysmal atrial fibrillation", "AF/flutter", "atrial flutter", "AF"]),
                   (r"flutter", ["atrial flutter", "AFL", "AF/flutter", "flutter", "AF"])],
    "SICK_SINUS": [(r"sick sinus", ["sick sinus syndrome", "SSS", "sinus node dysfunction", "tachy-brady syndrome", "brady-tachy syndrome"]),
                   (r"brady", ["sinus bradycardia", "symptomatic bradycardia", "sinus node dysfunction"])],
}

DEMO_FRAMES = ["{age} y/o {s}", "{age}-year-old {noun}", "{age}yo {s}", "{sex}, {age}",
               "pt {age} {s}", "{age} {s}", "{age} year old {sex}", "{polite} aged {age}",
               "{age}/{s}", "{s} {age}y", "{age} yr old {sex}", "patient is a {age}-year-old {noun}"]
NO_MEDS = ["no regular meds", "no medications", "nil meds", "no current medication",
           "meds: none", "not on any medication", "takes no drugs", "NKDA and no meds"]

NEUTRAL_RECORDING = ["24h Holter requested", "ambulatory ECG", "routine Holter", "please report",
                     "Holter fitted this morning", "30 min ambulatory recording", "for Holter analysis", "ECG monitoring requested",
                     "tape returned today", "please review", "recording attached", "two-channel ambulatory ECG"]

IRRELEVANT = [
    "knee replacement 2019", "allergic to penicillin", "insurance pre-authorisation pending", "lives alone",
    "The quick brown fox jumps over the lazy dog", "appointment rescheduled to Tuesday", "interpreter required (Portuguese)", "ex-smoker, 20 pack-years",
    "cataract surgery last spring", "hip fracture 2015", "GP: Dr Patel, Elm Street surgery", "please fax the report",
    "NKDA", "type 2 diabetes, diet controlled", "hypothyroid on levothyroxine", "walks with a stick",
    "referral letter scanned to file", "next of kin: daughter", "appendicectomy as a child", "hearing aid left ear",
    "patient prefers morning appointments", "gout, on allopurinol", "billing code pending", "lactose intolerant",
    "retired teacher", "COPD, uses inhalers", "bilateral carpal tunnel release", "vaccinations up to date",
    "transport booked", "consent form signed", "BMI 31", "osteoarthritis both knees",
    "history of depression, stable", "seasonal allergies", "chart reviewed by the nurse", "eczema since childhood",
    "drinks 10 units a week", "ward 4B", "glaucoma, on eye drops", "report to be sent to the referring clinic",
]

#: Drug lists for synthetic demographics in recognizer training (MIT-BIH header names + common others).
TRAIN_DRUGS = ["Digoxin", "Inderal", "Quinidine", "Pronestyl", "Norpace", "Quinaglute", "Aldomet", "Lasix",
               "Coumadin", "Heparin", "Hygroton", "Isordil", "Nitropaste", "Dilantin", "KCl", "Hydrochlorthiazide",
               "Diapres", "Xyloprim", "Hydrodiuril", "metoprolol", "amiodarone", "aspirin", "ramipril", "atorvastatin",
               "furosemide", "warfarin", "bisoprolol", "flecainide", "lisinopril", "metformin"]

#: Hard negatives: the frames of the facts filled with things that are no fact of the vocabulary, so a
#: probe keys on the term, not on "h/o" or "on" (index % 4 == 3 held out, as for frames).
OTHER_TERMS: dict[str, list[str]] = {
    "history": ["asthma", "hypertension", "CKD stage 3", "COPD", "hypothyroidism", "gout", "migraine", "type 2 diabetes",
                "osteoporosis", "glaucoma", "prostate cancer", "depression", "GORD", "anaemia", "psoriasis", "a hernia repair",
                "stroke in 2015", "peptic ulcer", "sleep apnoea", "rheumatoid arthritis"],
    "drug": ["aspirin", "ramipril", "metformin", "omeprazole", "atorvastatin", "levothyroxine", "paracetamol", "lisinopril",
             "furosemide", "Lasix", "Aldomet", "methyldopa", "warfarin", "Coumadin", "insulin", "amlodipine", "simvastatin",
             "Isordil", "allopurinol", "sertraline"],
    "reason": ["pre-op assessment", "routine follow-up", "annual review", "research protocol", "a medication review",
               "insurance medical", "a driving licence check", "a baseline study", "chest wall pain", "fatigue",
               "a work medical", "post-discharge review"],
    "recording": ["battery changed", "diary returned", "monitor returned on time", "patient kept a diary", "recorder serviced",
                  "tape labelled", "clock set correctly", "patient showered before fitting"],
}
