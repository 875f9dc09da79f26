"""Built-in harness plugins, installed as ``harness_plugins`` and registered through
the ``harness`` entry-point group like any third-party plugin."""
