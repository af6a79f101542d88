"""Rasa tokenizer for Vietnamese: ``bot.tokenizer.VietnameseTokenizer`` in config.yml.

NFC + tone-mark normalisation + optional word segmentation, all through :mod:`bot.segment`, which
calls :mod:`knowledge_base.text`. Offsets index the original message. ``Token.lemma`` holds the
folded, abbreviation-expanded form, so a ``CountVectorsFeaturizer`` with ``use_lemma: true`` sees
"lam cccd can giay to gi" and "làm CCCD cần giấy tờ gì" the same way; one with ``use_lemma: false``
keeps the diacritics (``Token.text``, normalised, case kept).
"""

from __future__ import annotations

from typing import Any

from rasa.engine.graph import ExecutionContext
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.tokenizers.tokenizer import Token, Tokenizer
from rasa.shared.nlu.training_data.message import Message

from bot.segment import SEGMENTERS, tokenize


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.MESSAGE_TOKENIZER, is_trainable=False)
class VietnameseTokenizer(Tokenizer):
    """Syllable (default) or underthesea word tokens, with normalised text and folded lemma."""

    @staticmethod
    def get_default_config() -> dict[str, Any]:
        return {
            "intent_tokenization_flag": False,
            "intent_split_symbol": "_",
            "token_pattern": None,
            "prefix_separator_symbol": None,
            "segmenter": "syllable",  # syllable | underthesea
        }

    @staticmethod
    def supported_languages() -> list[str] | None:
        return ["vi"]

    @staticmethod
    def required_packages() -> list[str]:
        return []

    def __init__(self, config: dict[str, Any]) -> None:
        super().__init__(config)
        self.segmenter = self._config.get("segmenter", "syllable")
        if self.segmenter not in SEGMENTERS:
            raise ValueError(f"segmenter must be one of {SEGMENTERS}, not {self.segmenter!r}")

    @classmethod
    def create(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> VietnameseTokenizer:
        return cls(config)

    def tokenize(self, message: Message, attribute: str) -> list[Token]:
        text = message.get(attribute) or ""
        tokens = [
            Token(piece.text, piece.start, end=piece.end, lemma=piece.folded)
            for piece in tokenize(text, self.segmenter)
        ]
        return self._apply_token_pattern(tokens)
