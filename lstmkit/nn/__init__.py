"""The recurrent core: drop-in LSTM/GRU/RNN layers with explicit gates, fused backends and state helpers, and the
modern family as drop-in layers: sLSTM, mLSTM (xLSTM), minLSTM, minGRU."""

from lstmkit.nn.minrnn import MinState, minGRU, minLSTM
from lstmkit.nn.mlstm import MLSTMState, mLSTM
from lstmkit.nn.recurrent import BACKENDS, GRU, LSTM, RNN, Variants
from lstmkit.nn.slstm import SLSTMState, sLSTM
from lstmkit.nn.state import (
    detach_state,
    initial_state,
    restore_state,
    select_state,
    snapshot_state,
    state_from_tensors,
    state_tensors,
)

__all__ = [
    "BACKENDS",
    "CELLS",
    "GRU",
    "LSTM",
    "MLSTMState",
    "MinState",
    "RNN",
    "SLSTMState",
    "Variants",
    "mLSTM",
    "minGRU",
    "minLSTM",
    "recurrent_layer",
    "sLSTM",
    "detach_state",
    "initial_state",
    "restore_state",
    "select_state",
    "snapshot_state",
    "state_from_tensors",
    "state_tensors",
]

CELLS = ("lstm", "gru", "rnn", "slstm", "mlstm", "minlstm", "mingru")
MODERN = {"slstm": sLSTM, "mlstm": mLSTM, "minlstm": minLSTM, "mingru": minGRU}


def recurrent_layer(cell: str, input_size: int, hidden_size: int, num_layers: int = 1, **options):
    """The layer a task's `--cell` names: LSTM, GRU or RNN (every option, the AWD variants included), or one of
    the modern family (batch_first, bidirectional and dropout between layers; the classic-only variants such as
    weight_drop or zoneout are not theirs and are dropped). `forget` ("exp" or "sigmoid") is the sLSTM's forget gate
    and is ignored by the other cells."""
    classic = {"lstm": LSTM, "gru": GRU, "rnn": RNN}
    if cell in classic:
        options = {k: v for k, v in options.items() if k != "forget"}
        return classic[cell](input_size, hidden_size, num_layers, **options)
    if cell not in MODERN:
        raise ValueError(f"unknown cell {cell!r}; choose from {', '.join(CELLS)}")
    kept = {k: options[k] for k in ("batch_first", "bidirectional", "dropout", "bias") if k in options}
    if cell == "slstm" and "forget" in options:
        kept["forget"] = options["forget"]
    return MODERN[cell](input_size, hidden_size, num_layers, **kept)
