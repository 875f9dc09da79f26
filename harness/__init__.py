"""harness: evaluate and retrain reasoning safety guards.

Importing this package must stay cheap: no torch, no transformers. Heavy
dependencies are imported inside the plugins that need them, when they run.
"""

__version__ = "0.1.0"
