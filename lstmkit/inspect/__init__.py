"""Looking inside recurrent models: gate traces, gradient flow, plots."""

from lstmkit.inspect.trace import GateTrace, gate_means, trace

__all__ = ["GateTrace", "gate_means", "trace"]
