"""The tiny model's tokenizer, built in memory with ``tokenizers``: one printable ASCII character a token.

Nothing is downloaded. Ids: ``<pad>`` 0, ``<bos>`` 1, ``<eos>`` 2, ``<unk>`` 3, then the 95 printable ASCII
characters (space to ``~``), so any task's text encodes (other characters become ``<unk>``). Encoding
prepends ``<bos>``; decoding joins the characters back without separators.
"""

from __future__ import annotations

from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, processors
from transformers import PreTrainedTokenizerFast

SPECIAL_TOKENS = ("<pad>", "<bos>", "<eos>", "<unk>")
CHARACTERS = tuple(chr(code) for code in range(32, 127))


def character_tokenizer() -> PreTrainedTokenizerFast:
    """A left-padding character tokenizer with ``<pad>``, ``<bos>``, ``<eos>`` and ``<unk>`` (V = 99)."""
    vocab = {token: index for index, token in enumerate((*SPECIAL_TOKENS, *CHARACTERS))}
    core = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    core.pre_tokenizer = pre_tokenizers.Split(Regex("."), behavior="isolated")
    core.decoder = decoders.Fuse()
    core.post_processor = processors.TemplateProcessing(single="<bos> $A", special_tokens=[("<bos>", vocab["<bos>"])])
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=core, pad_token="<pad>", bos_token="<bos>",
                                        eos_token="<eos>", unk_token="<unk>")
    tokenizer.padding_side = "left"
    return tokenizer
