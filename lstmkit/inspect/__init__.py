"""Looking inside recurrent models: gate traces, gradient flow, plots."""

from lstmkit.inspect.trace import GateTrace, trace

__all__ = ["GateTrace", "trace"]
