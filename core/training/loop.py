"""Training of the multimodal contrastive model (seed 000) on real MIT-BIH beats.

Recipe (``TrainOptions`` holds every knob; defaults are the shipped model's):
1. Beats of the training records (DS1 + 102, 104), reference R-peaks, AAMI N/S/Q (V and F never
   enter: they are the zero-shot test). N is down-sampled as in the seed (``n_per_abnormal``).
2. Each beat is paired with a finding sentence built from its annotation and measured features
   (``core.notes.beat_finding``, paraphrased with a seeded RNG) for the ECG-text alignment, and with
   its record's note (header-only or header + reference rhythm; sometimes none) for the classifier.
   BERT is frozen (2 CPU cores; its sentence vectors are computed once per distinct text); the text
   projection, ECG encoder, ECG projection and the heads are trained.
3. Loss = contrastive (NT-Xent, or sigmoid) + classification (BCE, class-balanced) on the ECG-only,
   note-only and fused heads [+ MERL uni-modal alignment] [+ masked reconstruction].
4. Calibration and thresholds come from record-grouped out-of-fold predictions on the training
   records (never from the test split): Platt scaling per head, threshold maximising F1.
"""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass

import numpy as np
import torch
import torch.nn.functional as F

from core.model.config import ModelConfig
from core.model.nets import CardioLensModel
from core.text.facts import FACTS
from core.training.dataset import TrainData
from core.training.losses import (
    masked_reconstruction,
    nt_xent,
    positive_mask_from_similarity,
    random_span_mask,
    sigmoid_contrastive,
    unimodal_alignment,
)


@dataclass
class TrainOptions:
    encoder: str = "cnn"
    epochs: int = 12
    batch_size: int = 256
    lr: float = 2e-3
    weight_decay: float = 1e-4
    seed: int = 0
    n_per_abnormal: float = 4.0  # keep at most this many N beats per abnormal (S+Q) beat
    contrastive: str = "ntxent"  # 'ntxent' | 'siglip' | 'none'
    temperature: float = 0.05
    fn_mitigation: str = "similarity"  # 'none' | 'same_text' | 'similarity' (seed 003)
    fn_threshold: float = 0.95
    unimodal_weight: float = 0.0  # MERL uni-modal alignment (seed 002)
    latent_dropout: float = 0.1
    recon_weight: float = 0.0  # masked-ECG reconstruction (seed 004)
    shared_projection: bool = True
    cls_weight: float = 1.0
    lead_augment: bool = True
    note_dropout: float = 0.2  # probability the classifier sees no note
    oof_folds: int = 3
    oof_epochs: int = 8
    threads: int = 2
    #: v2: the note enters only through recognised facts (core.model.fusion); 'concat' is v1
    fusion: str = "concat"
    abnormal_classes: tuple[str, ...] = ("S", "Q")
    note_variants: int = 8  # referral-note paraphrases per training record (fact-gated fusion)
    #: weight of the feature booster in the ECG logit (core.model.booster); 0 = network only (v1)
    booster_weight: float = 0.0


def fit_feature_scaling(features: np.ndarray) -> tuple[list[float], list[float], list[float]]:
    fill = np.nanmedian(features, 0)
    fill = np.where(np.isfinite(fill), fill, 0.0)
    f = np.where(np.isnan(features), fill, features)
    mean, std = f.mean(0), f.std(0)
    std = np.where(std > 1e-6, std, 1.0)
    return fill.tolist(), mean.tolist(), std.tolist()


def train_model(data: TrainData, opts: TrainOptions, version: str = "dev", log=print, features=None,
                fact_inputs=None) -> CardioLensModel:
    """Train one model on ``data``; returns it in eval mode (calibration left at identity).

    ``features``: names of ``data.features``' columns (default ``MODEL_FEATURES``); ``fact_inputs``: fact ->
    feature names it may read (fact-gated fusion, when ``data.note_facts`` is given)."""
    torch.manual_seed(opts.seed)
    torch.set_num_threads(opts.threads)
    rng = np.random.default_rng(opts.seed)
    fill, mean, std = fit_feature_scaling(data.features)
    gated = data.note_facts is not None
    conf = ModelConfig(
        version=version, encoder=opts.encoder, shared_projection=opts.shared_projection,
        temperature=opts.temperature, text_dim=data.text_vec.shape[1],
        feature_fill=fill, feature_mean=mean, feature_std=std, train=asdict(opts),
        features=list(features) if features is not None else ModelConfig().features,
        abnormal_classes=list(opts.abnormal_classes), fusion="fact_gated" if gated else "concat",
        facts=list(data.facts) if gated else [], fact_inputs=dict(fact_inputs or {}) if gated else {},
        fact_directions={f.name: f.direction for f in FACTS if f.name in data.facts} if gated else {},
    )
    model = CardioLensModel(conf)
    opt = torch.optim.AdamW(model.parameters(), lr=opts.lr, weight_decay=opts.weight_decay)
    n = len(data.y)
    steps = opts.epochs * int(np.ceil(n / opts.batch_size))
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=opts.lr, total_steps=max(steps, 1), pct_start=0.15)
    pos_weight = torch.tensor(float((data.y == 0).sum() / max((data.y == 1).sum(), 1)))
    W = torch.from_numpy(data.windows)
    Fx = torch.from_numpy(data.features)
    Y = torch.from_numpy(data.y)
    TV = torch.from_numpy(data.text_vec)
    NV = torch.from_numpy(data.note_vecs)
    NF = torch.from_numpy(data.note_facts) if gated else None
    NRI = torch.from_numpy(data.note_record_index) if gated else None
    text_ids = torch.from_numpy(np.unique(np.array(data.texts, dtype=object), return_inverse=True)[1].astype(np.int64)) if data.texts else None
    history = []
    for epoch in range(opts.epochs):
        model.train()
        perm = torch.from_numpy(rng.permutation(n))
        t0, sums = time.time(), {}
        for i in range(0, n, opts.batch_size):
            idx = perm[i : i + opts.batch_size]
            if len(idx) < 8:
                continue
            b = len(idx)
            lead = torch.from_numpy(rng.integers(0, W.shape[1], b)) if opts.lead_augment else torch.zeros(b, dtype=torch.long)
            x = W[idx, lead]
            shift = int(rng.integers(-4, 5))
            x = torch.roll(x, shift, 1) * torch.from_numpy(rng.uniform(0.8, 1.2, (b, 1)).astype(np.float32))
            x = x + 0.02 * torch.randn_like(x)
            losses = {}
            if opts.recon_weight > 0:
                m = random_span_mask(tuple(x.shape), generator=None)
                emb, z = model.encode_ecg(x.masked_fill(m, 0.0))
                losses["recon"] = opts.recon_weight * masked_reconstruction(model.decoder(emb), x, m)
            else:
                emb, z = model.encode_ecg(x)
            fsc = model.scale_features(Fx[idx])
            y = Y[idx]
            if opts.contrastive != "none":
                tz = model.encode_text(TV[idx])
                if opts.fn_mitigation == "similarity":
                    pos = positive_mask_from_similarity(TV[idx], opts.fn_threshold)
                elif opts.fn_mitigation == "same_text" and text_ids is not None:
                    pos = text_ids[idx].unsqueeze(0) == text_ids[idx].unsqueeze(1)
                else:
                    pos = None
                loss_fn = sigmoid_contrastive if opts.contrastive == "siglip" else nt_xent
                losses["contrastive"] = loss_fn(z, tz, opts.temperature, positives=pos)
            if opts.unimodal_weight > 0:
                losses["unimodal"] = opts.unimodal_weight * unimodal_alignment(emb, opts.latent_dropout)
            bce = lambda logit: F.binary_cross_entropy_with_logits(logit, y, pos_weight=pos_weight)  # noqa: E731
            logit_ecg = model.logit_ecg(emb, z, fsc)
            losses["cls_ecg"] = opts.cls_weight * bce(logit_ecg)
            if gated:
                # one referral-note variant of the beat's record; the fused head moves the (detached) ECG
                # logit only through the facts that note states, so it cannot learn patients
                fp = NF[NRI[idx], torch.from_numpy(rng.integers(0, NF.shape[1], b))]
                losses["cls_fused"] = opts.cls_weight * bce(model.logit_fused_facts(logit_ecg.detach(), fsc, fp))
                losses["cls_note"] = 0.5 * opts.cls_weight * bce(model.logit_note_facts(fp))
            else:
                # the classifier's note: header-only, header + reference rhythm, or none
                choice = torch.from_numpy(rng.choice(3, b, p=[(1 - opts.note_dropout) / 2] * 2 + [opts.note_dropout]))
                nb = NV[idx, choice]
                ntz = model.encode_text(nb)
                losses["cls_fused"] = opts.cls_weight * bce(model.logit_fused(emb, z, nb, ntz, fsc))
                losses["cls_note"] = 0.5 * opts.cls_weight * bce(model.logit_note(nb, ntz))
            loss = sum(losses.values())
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            for k, v in losses.items():
                sums[k] = sums.get(k, 0.0) + float(v.detach()) * b
        epoch_losses = {k: v / n for k, v in sums.items()}
        history.append(epoch_losses)
        log(f"epoch {epoch + 1}/{opts.epochs} {time.time() - t0:.1f}s " + " ".join(f"{k}={v:.4f}" for k, v in epoch_losses.items()))
    model.eval()
    model.config.train = {**asdict(opts), "history": history}
    return model
