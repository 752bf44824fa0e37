"""The recurrent core: drop-in LSTM/GRU/RNN layers with explicit gates, fused backends and state helpers, and the
modern family as drop-in layers: sLSTM, mLSTM (xLSTM), minLSTM, minGRU."""

from lstmkit.nn.minrnn import MinState, minGRU, minLSTM
from lstmkit.nn.mlstm import MLSTMState, mLSTM
from lstmkit.nn.recurrent import BACKENDS, GRU, LSTM, RNN, Variants
from lstmkit.nn.slstm import SLSTMState, sLSTM
from lstmkit.nn.state import detach_state, initial_state, restore_state, select_state, snapshot_state

__all__ = [
    "BACKENDS",
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
    "sLSTM",
    "detach_state",
    "initial_state",
    "restore_state",
    "select_state",
    "snapshot_state",
]
