"""Entity clean-up after DIET and the regex extractor: ``bot.entities.EntityCleaner`` in config.yml.

The rules live in :mod:`bot.spans` (no Rasa import, unit-tested): regex codes win over DIET, DIET
codes must look like codes, adjacent fragments of one procedure or aspect are merged, and procedure
and aspect spans lose lead-in and trailing function words ("tôi muốn", "thì", "ạ").
"""

from __future__ import annotations

from typing import Any

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.shared.nlu.constants import ENTITIES, TEXT
from rasa.shared.nlu.training_data.message import Message

from bot.spans import clean_entities

__all__ = ["EntityCleaner", "clean_entities"]


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.ENTITY_EXTRACTOR, is_trainable=False)
class EntityCleaner(GraphComponent):
    """Runs :func:`clean_entities` on every parsed message."""

    @staticmethod
    def get_default_config() -> dict[str, Any]:
        return {"merge": ["procedure", "aspect"]}

    def __init__(self, config: dict[str, Any]) -> None:
        self._merge = frozenset(config.get("merge") or [])

    @classmethod
    def create(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> EntityCleaner:
        return cls(config)

    def process(self, messages: list[Message]) -> list[Message]:
        for message in messages:
            entities = message.get(ENTITIES, [])
            if entities:
                message.set(
                    ENTITIES, clean_entities(message.get(TEXT) or "", entities, self._merge), add_to_output=True
                )
        return messages
