"""The recurrent core: drop-in LSTM/GRU/RNN layers with explicit gates, fused backends and state helpers."""

from lstmkit.nn.recurrent import BACKENDS, GRU, LSTM, RNN, Variants
from lstmkit.nn.state import detach_state, initial_state, restore_state, select_state, snapshot_state

__all__ = [
    "BACKENDS",
    "GRU",
    "LSTM",
    "RNN",
    "Variants",
    "detach_state",
    "initial_state",
    "restore_state",
    "select_state",
    "snapshot_state",
]
