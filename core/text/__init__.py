"""Text: the frozen BERT note encoder (``encoder``) and the notes built from record information
(``notes``: header and rhythm notes; ``findings``: label-derived beat sentences for training only)."""
