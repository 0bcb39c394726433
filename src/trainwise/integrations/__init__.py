"""trainwise's verdict inside other frameworks' training loops: one callback per framework.

    from trainwise.integrations.lightning import TrainwiseCallback       # pip install 'trainwise[lightning]'
    from trainwise.integrations.transformers import TrainwiseCallback    # pip install 'trainwise[transformers]'
    from trainwise.integrations.keras import TrainwiseCallback           # pip install 'trainwise[keras]'

Each module imports its framework; this package imports none (``import trainwise`` never does either).
What each callback reads and what it costs: docs/integrations.md.
"""
