"""The multimodal contrastive model: ``config`` (ModelConfig, MODEL_FEATURES), ``nets`` (encoders, heads),
``bundle`` (save/load a bundle folder), ``inference`` (feature matrix, logits, calibration)."""
