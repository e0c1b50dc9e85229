"""Property tests: any YAML or bytes give a recipe or texts, or an NlpkitError: nothing else."""

from __future__ import annotations

import tempfile
from pathlib import Path

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nlpkit.errors import NlpkitError
from nlpkit.inputs.readers import collect_texts
from nlpkit.recipe.schema import Recipe, load_recipe

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
KEYS = ["task", "model", "data", "training", "lora", "output_dir", "train_file", "epochs", "r"]
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-5, 10**6),
    st.floats(allow_nan=True),
    st.text(max_size=12),
    st.sampled_from(["text-classification", "translation", "./m", "runs/x", "no", "1e-3"]),
)
trees = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(st.one_of(st.sampled_from(KEYS), st.text(max_size=6)), inner, max_size=5),
    ),
    max_leaves=20,
)
yaml_texts = st.one_of(
    trees.map(lambda tree: yaml.safe_dump(tree, allow_unicode=True)),
    st.text(max_size=200),
    st.text(alphabet=":-[]{}&*!|>'\"#\n\t %@`,?abc", max_size=120),
)


def _loads(text_or_bytes, name: str, reader):
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / name
        if isinstance(text_or_bytes, bytes):
            path.write_bytes(text_or_bytes)
        else:
            path.write_text(text_or_bytes, encoding="utf-8", errors="surrogatepass")
        try:
            return reader(path)
        except NlpkitError:
            return None


@SETTINGS
@given(yaml_texts)
def test_recipe_loader_gives_a_recipe_or_an_nlpkit_error(text):
    result = _loads(text, "r.yaml", load_recipe)
    assert result is None or isinstance(result, Recipe)


@SETTINGS
@given(st.binary(max_size=300), st.sampled_from([".txt", ".csv", ".tsv", ".jsonl", ".json"]))
def test_input_readers_give_texts_or_an_nlpkit_error(content, suffix):
    texts = _loads(content, f"in{suffix}", lambda path: collect_texts(input_file=path))
    assert texts is None or (texts and all(isinstance(t, str) and t.strip() for t in texts))


@SETTINGS
@given(
    st.lists(st.text(alphabet='ab ,"\t\n\r\\x', max_size=8), min_size=1, max_size=6),
    st.sampled_from([".csv", ".tsv", ".jsonl", ".txt"]),
)
def test_table_like_text_gives_texts_or_an_nlpkit_error(cells, suffix):
    content = "text,label\n" + "\n".join(",".join(cells[i : i + 2]) for i in range(len(cells)))
    texts = _loads(content, f"in{suffix}", lambda path: collect_texts(input_file=path))
    assert texts is None or all(isinstance(t, str) for t in texts)
