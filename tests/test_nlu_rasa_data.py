"""The Rasa project at the repo root validates (`rasa data validate`) in .venv-rasa."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
RASA = ROOT / ".venv-rasa" / "bin" / "rasa"


@pytest.mark.rasa
@pytest.mark.skipif(not RASA.exists(), reason=".venv-rasa is missing (make setup-rasa)")
def test_rasa_data_validate() -> None:
    env = {**os.environ, "RASA_TELEMETRY_ENABLED": "false", "PYTHONPATH": str(ROOT)}
    result = subprocess.run(
        [str(RASA), "data", "validate", "--data", "nlu_data", "--domain", "domain.yml", "--config", "config.yml"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    warnings = [
        line
        for line in (result.stdout + result.stderr).splitlines()
        if "UserWarning:" in line or re.search(r"\bWARNING\s+rasa", line)
    ]
    assert not warnings, "\n".join(warnings)


@pytest.mark.rasa
@pytest.mark.skipif(not RASA.exists(), reason=".venv-rasa is missing (make setup-rasa)")
def test_rasa_components_import_from_repo_root() -> None:
    python = ROOT / ".venv-rasa" / "bin" / "python"
    code = (
        "from bot.tokenizer import VietnameseTokenizer; from bot.synonyms import FoldingSynonymMapper; "
        "from rasa.shared.nlu.training_data.message import Message; "
        "t = VietnameseTokenizer(VietnameseTokenizer.get_default_config()); "
        "tokens = t.tokenize(Message(data={'text': 'lam cccd can giay to gi'}), 'text'); "
        "print(' '.join(tok.lemma for tok in tokens))"
    )
    env = {**os.environ, "RASA_TELEMETRY_ENABLED": "false", "PYTHONPATH": str(ROOT)}
    result = subprocess.run([str(python), "-c", code], cwd=ROOT, env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip().splitlines()[-1] == "lam cccd can giay to gi"


@pytest.mark.rasa
@pytest.mark.skipif(not RASA.exists(), reason=".venv-rasa is missing (make setup-rasa)")
def test_entity_cleaner_merges_fragments_and_prefers_regex_codes() -> None:
    python = ROOT / ".venv-rasa" / "bin" / "python"
    code = """
import json
from bot.entities import clean_entities
text = "cap lai can cuoc ho so H29.22-250312-0012"
entities = [
    {"entity": "procedure", "start": 0, "end": 7, "value": "cap lai", "extractor": "DIETClassifier"},
    {"entity": "procedure", "start": 8, "end": 16, "value": "can cuoc", "extractor": "DIETClassifier"},
    {"entity": "complaint_code", "start": 23, "end": 41, "value": "x", "extractor": "DIETClassifier"},
    {"entity": "dossier_code", "start": 23, "end": 41, "value": "H29.22-250312-0012",
     "extractor": "RegexEntityExtractor"},
]
print(json.dumps([(e["entity"], e["value"]) for e in clean_entities(text, entities, frozenset({"procedure"}))]))
"""
    env = {**os.environ, "RASA_TELEMETRY_ENABLED": "false", "PYTHONPATH": str(ROOT)}
    result = subprocess.run([str(python), "-c", code], cwd=ROOT, env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-3000:]
    assert json.loads(result.stdout.strip().splitlines()[-1]) == [
        ["procedure", "cap lai can cuoc"],
        ["dossier_code", "H29.22-250312-0012"],
    ]


@pytest.mark.rasa
@pytest.mark.skipif(not RASA.exists(), reason=".venv-rasa is missing (make setup-rasa)")
def test_entity_cleaner_learns_procedure_names_and_keeps_entities_of_ask_procedure_only(tmp_path: Path) -> None:
    python = ROOT / ".venv-rasa" / "bin" / "python"
    code = """
import json, sys
from pathlib import Path
from rasa.engine.graph import ExecutionContext, GraphSchema
from rasa.engine.storage.local_model_storage import LocalModelStorage
from rasa.engine.storage.resource import Resource
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData
from bot.entities import EntityCleaner

storage = LocalModelStorage(Path(sys.argv[1]))
resource = Resource("cleaner")
context = ExecutionContext(GraphSchema({}), "test")
data = TrainingData(lookup_tables=[{"name": "procedure", "elements": ["xác nhận tình trạng hôn nhân"]}])
EntityCleaner.create({}, storage, resource, context).train(data)
cleaner = EntityCleaner.load({}, storage, resource, context)

def parse(text, intent, spans):
    entities = [{"entity": e, "start": text.index(s), "end": text.index(s) + len(s), "value": s,
                 "extractor": "DIETClassifier"} for e, s in spans]
    message = Message(data={"text": text, "intent": {"name": intent}, "entities": entities})
    cleaner.process([message])
    return [(e["entity"], text[e["start"]:e["end"]]) for e in message.get("entities")]

print(json.dumps([
    parse("xac nhan tinh trang hon nhan mat bao lau", "ask_procedure", [("procedure", "xac nhan tinh")]),
    parse("hồ sơ xác nhận tình trạng hôn nhân của tôi xong chưa", "check_dossier_status",
          [("procedure", "xác nhận tình trạng")]),
    parse("tôi cần xác nhận tình trạng hôn nhân", "ask_procedure", []),
]))
"""
    env = {**os.environ, "RASA_TELEMETRY_ENABLED": "false", "PYTHONPATH": str(ROOT)}
    result = subprocess.run([str(python), "-c", code, str(tmp_path)], cwd=ROOT, env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-3000:]
    assert json.loads(result.stdout.strip().splitlines()[-1]) == [
        [["procedure", "xac nhan tinh trang hon nhan"]],
        [],
        [["procedure", "xác nhận tình trạng hôn nhân"]],
    ]
