"""One training engine for every task (Lightning underneath), checkpoints and run directories.

Importing this package does not import Lightning; `lstmkit.engine.trainer.fit` does, when training starts.
"""

from lstmkit.engine.config import TrainConfig, parse_duration
from lstmkit.engine.protocol import TrainingTask

__all__ = ["TrainConfig", "TrainingTask", "parse_duration"]
