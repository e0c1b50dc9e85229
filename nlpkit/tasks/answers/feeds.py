"""The ONNX Runtime feed of a batch of windows: ids, mask and the windows' segment ids."""

from __future__ import annotations

from typing import Any

from nlpkit.tasks.answers.spans import Logits, Window

OUTPUTS = ("start_logits", "end_logits")  # the export's output names


def onnx_logits(runner: Any) -> Logits:
    """(start, end) logits of a batch of windows from ``runner``'s session, with the
    windows' own segment ids (a BERT reads the context as segment 1)."""
    import numpy as np

    names = [item.name for item in runner.session.get_inputs()]

    def logits(windows: list[Window]):
        width = max(len(w.ids) for w in windows)
        ids = np.full((len(windows), width), runner.pad_id, dtype=np.int64)
        types = np.zeros_like(ids)
        mask = np.zeros_like(ids)
        for i, window in enumerate(windows):
            ids[i, : len(window.ids)] = window.ids
            types[i, : len(window.types)] = window.types
            mask[i, : len(window.ids)] = 1
        feed = {"input_ids": ids, "attention_mask": mask, "token_type_ids": types}
        start, end = runner.session.run(list(OUTPUTS), {name: feed[name] for name in names})
        return start, end

    return logits
