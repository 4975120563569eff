"""What the reader sees: ``figures`` (ECG paper, predictions), ``figures_explain`` (SHAP, saliency,
similar beats), ``figures_card`` (model card), ``tables`` (shared tables, metrics tables from
metrics.json) and ``html`` (the self-contained case report)."""
