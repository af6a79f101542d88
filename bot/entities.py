"""Entity clean-up after DIET and the regex extractor: ``bot.entities.EntityCleaner`` in config.yml.

The rules live in :mod:`bot.spans` (no Rasa import, unit-tested): regex codes win over DIET, DIET
codes must look like codes, adjacent fragments of one procedure or aspect are merged, procedure
and aspect spans lose lead-in and trailing function words ("tôi muốn", "thì", "ạ"), and a procedure
span that stops inside a known name is completed. Known names are learnt at training time from the
``procedure`` lookup table (nlu_data/lookup/procedure.yml) and the annotated procedure spans.
"""

from __future__ import annotations

import json
from typing import Any

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.shared.nlu.constants import ENTITIES, INTENT, INTENT_NAME_KEY, TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from bot.spans import clean_entities, keep_for_intent, phrase_ngrams, recover_procedure

__all__ = ["EntityCleaner", "clean_entities"]

_FILE = "procedure_ngrams.json"


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.ENTITY_EXTRACTOR, is_trainable=True)
class EntityCleaner(GraphComponent):
    """Runs :func:`clean_entities` on every parsed message."""

    @staticmethod
    def get_default_config() -> dict[str, Any]:
        # ngram_size 2: a word joins a procedure span when it forms a known bigram with the last word.
        # intent_scoped: entities kept only with these intents (the training data annotates procedure
        # and aspect only in ask_procedure); recover_for: intents whose missing procedure is looked for.
        return {
            "merge": ["procedure", "aspect"],
            "lookup": "procedure",
            "ngram_size": 2,
            "intent_scoped": {"procedure": ["ask_procedure"], "aspect": ["ask_procedure"]},
            "recover_for": ["ask_procedure"],
        }

    def __init__(
        self,
        config: dict[str, Any],
        model_storage: ModelStorage | None = None,
        resource: Resource | None = None,
        ngrams: frozenset[str] = frozenset(),
    ) -> None:
        self._config = {**self.get_default_config(), **config}
        self._merge = frozenset(self._config.get("merge") or [])
        self._model_storage = model_storage
        self._resource = resource
        self._ngrams = ngrams
        scoped = self._config.get("intent_scoped") or {}
        self._scoped = {entity: frozenset(intents) for entity, intents in scoped.items()}
        self._recover_for = frozenset(self._config.get("recover_for") or [])

    @classmethod
    def create(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> EntityCleaner:
        return cls(config, model_storage, resource)

    @classmethod
    def load(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
        **kwargs: Any,
    ) -> EntityCleaner:
        ngrams: frozenset[str] = frozenset()
        try:
            with model_storage.read_from(resource) as directory:
                ngrams = frozenset(json.loads((directory / _FILE).read_text(encoding="utf-8")))
        except (ValueError, FileNotFoundError):
            pass  # a model trained before procedure names were learnt: clean without completion
        return cls(config, model_storage, resource, ngrams)

    def train(self, training_data: TrainingData) -> Resource:
        names: list[str] = []
        for table in training_data.lookup_tables:
            if table.get("name") == self._config.get("lookup") and isinstance(table.get("elements"), list):
                names.extend(str(item) for item in table["elements"])
        for example in training_data.entity_examples:
            text = example.get(TEXT) or ""
            names.extend(text[e["start"] : e["end"]] for e in example.get(ENTITIES, []) if e["entity"] == "procedure")
        self._ngrams = phrase_ngrams(names, int(self._config.get("ngram_size", 2)))
        if self._model_storage is None or self._resource is None:
            raise ValueError("EntityCleaner.train needs the model storage given to create()")
        with self._model_storage.write_to(self._resource) as directory:
            (directory / _FILE).write_text(json.dumps(sorted(self._ngrams), ensure_ascii=False), encoding="utf-8")
        return self._resource

    def process(self, messages: list[Message]) -> list[Message]:
        for message in messages:
            text = message.get(TEXT) or ""
            intent = (message.get(INTENT) or {}).get(INTENT_NAME_KEY)
            entities = message.get(ENTITIES, [])
            cleaned = clean_entities(text, entities, self._merge, self._ngrams) if entities else []
            cleaned = keep_for_intent(cleaned, intent, self._scoped)
            if intent in self._recover_for and not any(e["entity"] == "procedure" for e in cleaned):
                found = recover_procedure(text, cleaned, self._ngrams)
                if found is not None:
                    cleaned.append(found)
            if cleaned or entities:
                message.set(ENTITIES, sorted(cleaned, key=lambda e: e["start"]), add_to_output=True)
        return messages
