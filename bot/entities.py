"""Entity clean-up after DIET and the regex extractor: ``bot.entities.EntityCleaner`` in config.yml.

- Codes and phones (dossier_code, complaint_code, phone): a regex match wins over DIET; a DIET code
  overlapping a regex code of another type is dropped (a dossier code is not a complaint code).
- Identical spans found by two extractors are kept once.
- Adjacent fragments of one procedure or aspect ("cấp lại" + "căn cước", only spaces between) are
  merged into one entity whose value is the original text of the whole span.
"""

from __future__ import annotations

from typing import Any

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.shared.nlu.constants import ENTITIES, TEXT
from rasa.shared.nlu.training_data.message import Message

CODE_ENTITIES = frozenset({"dossier_code", "complaint_code", "phone"})
REGEX_EXTRACTOR = "RegexEntityExtractor"


def _overlap(a: dict[str, Any], b: dict[str, Any]) -> bool:
    return a["start"] < b["end"] and b["start"] < a["end"]


def clean_entities(text: str, entities: list[dict[str, Any]], merge: frozenset[str]) -> list[dict[str, Any]]:
    """The cleaned entity list (see module docstring); pure function for tests."""
    regex_codes = [e for e in entities if e["entity"] in CODE_ENTITIES and e.get("extractor") == REGEX_EXTRACTOR]
    kept: list[dict[str, Any]] = []
    seen: set[tuple[str, int, int]] = set()
    for entity in sorted(entities, key=lambda e: (e["start"], e.get("extractor") != REGEX_EXTRACTOR)):
        key = (entity["entity"], entity["start"], entity["end"])
        if key in seen:
            continue
        if (
            entity["entity"] in CODE_ENTITIES
            and entity.get("extractor") != REGEX_EXTRACTOR
            and any(_overlap(entity, r) for r in regex_codes)
        ):
            continue
        seen.add(key)
        kept.append(dict(entity))
    merged: list[dict[str, Any]] = []
    for entity in kept:
        previous = merged[-1] if merged else None
        if (
            previous is not None
            and entity["entity"] in merge
            and previous["entity"] == entity["entity"]
            and previous["end"] <= entity["start"]
            and not text[previous["end"] : entity["start"]].strip()
        ):
            previous["end"] = entity["end"]
            previous["value"] = text[previous["start"] : previous["end"]]
            continue
        merged.append(entity)
    return merged


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
                message.set(ENTITIES, clean_entities(message.get(TEXT) or "", entities, self._merge),
                            add_to_output=True)
        return messages
