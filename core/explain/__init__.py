"""Why the model said what it said: feature attributions, note attributions, saliency, similar beats.

Modules: ``explanation`` (the one ``Explanation`` type and the bundle's explanation assets), ``head``
(the shown head rebuilt from public model hooks), ``shap``, ``note``, ``saliency``, ``neighbours``,
``faithfulness``. Everything returns plain data; drawing is ``core.report.figures``' job.
"""
from core.explain.explanation import ExplainAssets, Explanation, explain_assets, load_explain_assets
from core.explain.faithfulness import deletion_test, note_deletion_test
from core.explain.neighbours import similar_cases
from core.explain.note import attention_vs_gradient, note_attention, note_gradients
from core.explain.saliency import beat_saliency
from core.explain.shap import MAX_EXACT_FEATURES, shap_features, shap_record

__all__ = ["ExplainAssets", "Explanation", "MAX_EXACT_FEATURES", "attention_vs_gradient", "beat_saliency", "deletion_test",
           "explain_assets", "load_explain_assets", "note_attention", "note_deletion_test", "note_gradients",
           "shap_features", "shap_record", "similar_cases"]
