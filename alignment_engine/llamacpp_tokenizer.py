"""The tokenizer of a GGUF model, seen through the small slice of the transformers tokenizer API the engine uses.

`prompts.stream_token_ids` and `text.IncrementalText` take a tokenizer with `apply_chat_template`, `__call__`
and `decode`; this class provides them on top of llama.cpp's own vocabulary, so both backends build their
streams with the same code. The chat template is the one stored in the GGUF, rendered with the same Jinja
settings transformers uses (llama-cpp-python's `Jinja2ChatFormatter`); special tokens in the rendered text
are parsed as such, exactly like a transformers tokenizer does with its added tokens.
"""

from __future__ import annotations

import ctypes
from typing import Any

import llama_cpp
from llama_cpp.llama_chat_format import Jinja2ChatFormatter


class LlamaTokenizer:
    """Tokenize, detokenize and render the chat template with a llama.cpp vocabulary."""

    def __init__(self, model: Any) -> None:
        self._vocab = llama_cpp.llama_model_get_vocab(model)
        self.vocab_size = llama_cpp.llama_vocab_n_tokens(self._vocab)
        self.eos_token_id = llama_cpp.llama_vocab_eos(self._vocab)
        self._pieces = [self._piece(token) for token in range(self.vocab_size)]
        self._control = [llama_cpp.llama_vocab_is_control(self._vocab, token) for token in range(self.vocab_size)]
        template = llama_cpp.llama_model_chat_template(model, None)
        if not template:
            raise ValueError("the GGUF file has no chat template (tokenizer.chat_template)")
        self._template = Jinja2ChatFormatter(
            template=template.decode("utf-8"),
            eos_token=self._text(self.eos_token_id),
            bos_token=self._text(llama_cpp.llama_vocab_bos(self._vocab)),
        )

    def apply_chat_template(
        self, messages: list[dict[str, str]], tokenize: bool = False, add_generation_prompt: bool = True
    ) -> str:
        if tokenize or not add_generation_prompt:
            raise ValueError("LlamaTokenizer renders text ending in the generation prompt only")
        return self._template(messages=messages).prompt

    def __call__(self, text: str, add_special_tokens: bool = False) -> dict[str, list[int]]:
        return {"input_ids": self.encode(text, add_special_tokens=add_special_tokens)}

    def encode(self, text: str, add_special_tokens: bool = False) -> list[int]:
        """Token ids of `text`; special-token strings in it (the template's markers) become their ids."""
        data = text.encode("utf-8")
        capacity = len(data) + 8
        buffer = (llama_cpp.llama_token * capacity)()
        count = llama_cpp.llama_tokenize(self._vocab, data, len(data), buffer, capacity, add_special_tokens, True)
        if count < 0:
            raise ValueError("tokenisation overflowed its buffer")
        return list(buffer[:count])

    def decode(self, ids: list[int], skip_special_tokens: bool = True) -> str:
        """Byte-level pieces joined first, then decoded, so merged multi-byte characters come out whole."""
        pieces = (self._pieces[token] for token in ids if not (skip_special_tokens and self._control[token]))
        return b"".join(pieces).decode("utf-8", errors="replace")

    def token_bytes(self, token: int) -> bytes:
        """The bytes the token stands for (what `constraints.Vocabulary` reads)."""
        return self._pieces[token]

    def is_control(self, token: int) -> bool:
        return self._control[token]

    def _piece(self, token: int) -> bytes:
        buffer = ctypes.create_string_buffer(64)
        size = llama_cpp.llama_token_to_piece(self._vocab, token, buffer, len(buffer), 0, True)
        if size < 0:
            buffer = ctypes.create_string_buffer(-size)
            size = llama_cpp.llama_token_to_piece(self._vocab, token, buffer, len(buffer), 0, True)
        return buffer.raw[:size]

    def _text(self, token: int) -> str:
        return self._pieces[token].decode("utf-8", errors="replace") if token >= 0 else ""
