"""Looking inside recurrent models: gate traces, gradient flow, plots (imported on first use, so the CLI's
`inspect` group costs nothing to commands that do not run it)."""

from lstmkit.tasks.spec import lazy_exports

_LAZY = {"GateTrace": "trace", "gate_means": "trace", "trace": "trace"}
__all__ = list(_LAZY)
__getattr__ = lazy_exports(__name__, _LAZY)
