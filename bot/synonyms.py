"""Entity synonyms matched on folded text: ``bot.synonyms.FoldingSynonymMapper`` in config.yml.

Rasa's EntitySynonymMapper matches the lower-cased value exactly, so "le phi" or "Lệ Phí" written
with another tone placement would miss ``fee``. This mapper keys synonyms by
``knowledge_base.text.fold`` and, when the whole value is unknown, takes the longest known synonym
inside it ("tốn bao nhiêu tiền" → fee; the rightmost of equally long ones). It only touches the
configured entities (default: aspect); procedure names and codes keep the citizen's words. An aspect
that maps to no known value is dropped (the actions only understand the canonical values), and so is
a second aspect with the same value ("Lệ phí ... là bao nhiêu" is one question about the fee).
When DIET found no aspect in an ``ask_procedure`` message, the longest known synonym phrase in the
text becomes one (:func:`bot.spans.recover_aspect`: "sang tên ô tô gồm mấy bước" → steps).
"""

from __future__ import annotations

from typing import Any

from rasa.engine.graph import ExecutionContext
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.extractors.entity_synonyms import EntitySynonymMapper
from rasa.shared.nlu.constants import ENTITIES, INTENT, INTENT_NAME_KEY, TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from bot.spans import complete_aspect, prefer_aspect_noun, recover_aspect
from knowledge_base import text as vn


def _key(value: str) -> str:
    """Folded, chat abbreviations expanded: "cần nhũng j", "can nhung gi" and "cần những gì" agree."""
    return " ".join(vn.fold(vn.expand_abbreviations(value)).split())


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.ENTITY_EXTRACTOR, is_trainable=True)
class FoldingSynonymMapper(EntitySynonymMapper):
    """Synonym lookup on folded text, restricted to some entity types."""

    @staticmethod
    def get_default_config() -> dict[str, Any]:
        # recover_for: intents whose message gets an aspect from the synonyms when DIET found none
        return {"entities": ["aspect"], "recover_for": ["ask_procedure"]}

    @classmethod
    def create(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
        synonyms: dict[str, Any] | None = None,
    ) -> FoldingSynonymMapper:
        return cls(config, model_storage, resource, synonyms)

    @property
    def _entities(self) -> set[str]:
        return set((self._config or {}).get("entities") or ["aspect"])

    def train(self, training_data: TrainingData) -> Resource:
        canonical: set[str] = set()
        for surface, value in training_data.entity_synonyms.items():
            self.synonyms[_key(surface)] = value
            canonical.add(value)
        for value in canonical:
            self.synonyms.setdefault(_key(value), value)
        for example in training_data.entity_examples:
            for entity in example.get(ENTITIES, []):
                if entity.get("entity") not in self._entities:
                    continue
                surface = example.get(TEXT)[entity["start"] : entity["end"]]
                value = str(entity.get("value"))
                if value in canonical:
                    self.synonyms.setdefault(_key(surface), value)
        self._persist()
        return self._resource

    def _lookup(self, value: str) -> str | None:
        key = _key(value)
        if key in self.synonyms:
            return str(self.synonyms[key])
        words = key.split()
        # Longest synonym first; among equally long ones the rightmost, because the question word
        # comes last in Vietnamese ("nộp hồ sơ ở đâu" asks where, not which documents).
        for size in range(len(words) - 1, 0, -1):
            for i in range(len(words) - size, -1, -1):
                found = self.synonyms.get(" ".join(words[i : i + size]))
                if found is not None:
                    return str(found)
        return None

    def process(self, messages: list[Message]) -> list[Message]:
        phrases = frozenset(self.synonyms)
        for message in messages:
            text = message.get(TEXT) or ""
            entities = message.get(ENTITIES, [])
            for entity in entities:
                if entity.get("entity") in self._entities:
                    # aspect fragments before it are merged or dropped: only other entities are a limit
                    others = [e for e in entities if e["entity"] not in self._entities]
                    floor = max((e["end"] for e in others if e["end"] <= entity["start"]), default=0)
                    span = prefer_aspect_noun(text, entity["start"], entity["end"], phrases, floor)
                    if span != (entity["start"], entity["end"]):
                        entity["start"], entity["end"] = span
                        entity["value"] = text[span[0] : span[1]]
        messages = super().process(messages)
        recover_for = set((self._config or {}).get("recover_for") or [])
        for message in messages:
            intent = (message.get(INTENT) or {}).get(INTENT_NAME_KEY)
            entities = message.get(ENTITIES, [])
            if intent not in recover_for or "aspect" not in self._entities:
                continue
            if any(e.get("entity") == "aspect" for e in entities):
                continue
            text = message.get(TEXT) or ""
            span = recover_aspect(text, entities, phrases)
            if span is None:
                continue
            value = self._lookup(text[span[0] : span[1]])
            if value is None:
                continue
            aspect = {"entity": "aspect", "start": span[0], "end": span[1], "value": value}
            aspect["extractor"] = self.__class__.__name__
            message.set(ENTITIES, sorted([*entities, aspect], key=lambda e: e["start"]), add_to_output=True)
        for message in messages:
            self._complete(message)
        return messages

    def _complete(self, message: Message) -> None:
        """Each mapped aspect gets the rest of its phrase (:func:`bot.spans.complete_aspect`)."""
        text = message.get(TEXT) or ""
        entities = message.get(ENTITIES, [])
        synonyms = {str(k): str(v) for k, v in self.synonyms.items()}
        for entity in entities:
            if entity.get("entity") not in self._entities:
                continue
            others = [e for e in entities if e is not entity]
            floor = max((e["end"] for e in others if e["end"] <= entity["start"]), default=0)
            limit = min((e["start"] for e in others if e["start"] >= entity["end"]), default=len(text))
            span = complete_aspect(text, entity["start"], entity["end"], str(entity["value"]), synonyms, floor, limit)
            if span != (entity["start"], entity["end"]):
                found = self._lookup(text[span[0] : span[1]])
                if found is not None:
                    entity["start"], entity["end"], entity["value"] = span[0], span[1], found

    def replace_synonyms(self, entities: list[dict[str, Any]]) -> None:
        canonical = {str(value) for value in self.synonyms.values()}
        kept: list[dict[str, Any]] = []
        values: set[tuple[str, str]] = set()
        for entity in entities:
            if entity.get("entity") not in self._entities:
                kept.append(entity)
                continue
            found = self._lookup(str(entity["value"]))
            if found is not None and found != entity["value"]:
                entity["value"] = found
                self.add_processor_name(entity)
            key = (str(entity["entity"]), str(entity["value"]))
            if canonical and (key[1] not in canonical or key in values):
                continue
            values.add(key)
            kept.append(entity)
        entities[:] = kept
