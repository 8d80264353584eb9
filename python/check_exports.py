"""Loads `medsim export` files with Hugging Face `datasets` and checks TRL's columns.

    python python/check_exports.py sft.jsonl dpo.jsonl kto.jsonl grpo.jsonl
"""

import sys

from datasets import load_dataset

EXPECTED = {
    "sft": {"messages", "tools"},
    "dpo": {"prompt", "chosen", "rejected"},
    "kto": {"prompt", "completion", "label"},
    "grpo": {"prompt", "case_id", "split"},
}

for path in sys.argv[1:]:
    kind = next(kind for kind in EXPECTED if kind in path.rsplit("/", 1)[-1])
    dataset = load_dataset("json", data_files=path, split="train")
    columns = set(dataset.column_names)
    missing = EXPECTED[kind] - columns
    assert not missing, f"{path}: missing {missing} (has {columns})"
    assert {"run_id", "case_id"} <= columns, f"{path}: rows must carry run_id and case_id ({columns})"
    assert len(dataset) > 0, f"{path}: no rows"
    first = dataset[0]
    if kind in ("sft",):
        roles = [message["role"] for message in first["messages"]]
        assert roles[:2] == ["system", "user"] and "assistant" in roles, roles
    if kind in ("dpo", "kto", "grpo"):
        assert first["prompt"][-1]["role"] == "user", first["prompt"]
    print(f"{path}: {len(dataset)} row(s), columns {sorted(columns)}")
