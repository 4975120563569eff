"""Losses: each option of TrainOptions has a test that it is finite, differentiable and does what it says."""
import torch

from core.training import losses


def _pair(b=8, d=16, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(b, d, generator=g, requires_grad=True), torch.randn(b, d, generator=g, requires_grad=True)


def test_nt_xent_lower_for_aligned_pairs():
    e, _ = _pair()
    aligned = losses.nt_xent(e, e.detach() + 0.01 * torch.randn_like(e), 0.05)
    shuffled = losses.nt_xent(e, e.detach()[torch.randperm(len(e))], 0.05)
    assert aligned < shuffled
    aligned.backward()
    assert torch.isfinite(e.grad).all()


def test_nt_xent_matches_cross_entropy_definition():
    e, t = _pair(4, 8, seed=1)
    z_e, z_t = torch.nn.functional.normalize(e, dim=-1), torch.nn.functional.normalize(t, dim=-1)
    logits = z_e @ z_t.T / 0.1
    manual = -torch.log_softmax(logits, 1).diagonal().mean() / 2 - torch.log_softmax(logits.T, 1).diagonal().mean() / 2
    assert torch.allclose(losses.nt_xent(e, t, 0.1), manual, atol=1e-5)


def test_multi_positive_does_not_push_apart_same_text():
    # beats 0 and 1 were paired with the same text (ids 0, 0) whose two vectors differ slightly;
    # swapping which of the two each beat sits on costs nothing with the mask, and costs without it
    t = torch.nn.functional.normalize(torch.tensor([[1.0, 0.3], [1.0, -0.3], [0.0, 1.0]]), dim=-1)
    swapped = t[[1, 0, 2]]
    pos = losses.positive_mask_from_ids(torch.tensor([0, 0, 1]))
    assert torch.isclose(losses.nt_xent(swapped, t, 0.1, positives=pos), losses.nt_xent(t, t, 0.1, positives=pos))
    assert losses.nt_xent(swapped, t, 0.1) > losses.nt_xent(t, t, 0.1) + 0.1


def test_similarity_mask_marks_near_duplicate_texts():
    v = torch.tensor([[1.0, 0.0], [0.99, 0.05], [0.0, 1.0]])
    m = losses.positive_mask_from_similarity(v, 0.95)
    assert m[0, 1] and not m[0, 2] and m.diagonal().all()


def test_sigmoid_loss_prefers_aligned():
    e, _ = _pair(6, 8, seed=2)
    assert losses.sigmoid_contrastive(e, e.detach(), 0.1) < losses.sigmoid_contrastive(e, -e.detach(), 0.1)


def test_unimodal_alignment_and_reconstruction_finite():
    e, _ = _pair(8, 32)
    u = losses.unimodal_alignment(e, 0.1)
    assert torch.isfinite(u)
    x = torch.randn(4, 360)
    m = losses.random_span_mask((4, 360), ratio=0.25, span=20)
    assert 0.1 < m.float().mean() < 0.4
    assert losses.masked_reconstruction(x, x, m) == 0
    assert losses.masked_reconstruction(torch.zeros_like(x), x, m) > 0
