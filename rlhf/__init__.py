"""Model loading, preference datasets, DPO / QA-DPO training, evaluation and
dollar-efficiency. Imports torch and transformers, never ``simulator``,
``agents`` or ``mechanisms``.

Not built yet: this package is filled in by the RLHF issue.
"""
