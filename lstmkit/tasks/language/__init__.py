"""Language models: character or BPE tokens, an AWD-style LSTM, carried-state training and evaluation,
cached-state generation.

    from lstmkit.tasks.language import LanguageModel
    lm = LanguageModel(epochs=1).fit("shakespeare")
    print(lm.generate("ROMEO:", max_new_tokens=200, temperature=0.8, top_p=0.95)[0])
"""

from lstmkit.tasks.language.config import LanguageConfig
from lstmkit.tasks.language.lm import LanguageModel, load_saved

__all__ = ["LanguageConfig", "LanguageModel", "load_saved"]
