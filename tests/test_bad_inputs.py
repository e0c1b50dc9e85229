"""Bad input for every command: one clear `error:` line, the right exit code, no traceback.

One table; each row is (case id, argv, files to create, exit code, message fragment).
In argv and file contents, {tmp} is the test's folder and {bert} {gpt2} {t5} {marian}
are tiny models; {broken} is a folder of damaged model copies (see ``broken``).
Exit codes: 2 for usage errors (arguments, input files, recipes), 1 for runtime ones.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import invoke, nlpkit_command, run_nlpkit, subprocess_env

GOOD_CSV = "text,label\n" + "".join(f"row {i} is fine,{i % 2}\n" for i in range(8))
LABELS = "  label_names: [a, b]\n"


def recipe(data: str = "", training: str = "", top: str = "", **keys: str) -> str:
    """A small recipe on the tiny bert; each part replaces or extends the default."""
    values = {"task": "text-classification", "model": "{bert}", "output_dir": "{tmp}/run", **keys}
    head = "".join(f"{key}: {value}\n" for key, value in values.items())
    data = data or "  train_file: {tmp}/train.csv\n"
    training = "training:\n  max_steps: 1\n  eval_strategy: 'no'\n" + training
    return head + top + "data:\n" + data + training


def fine(data: str = "", **keys: str) -> tuple[list[str], dict]:
    """argv and files of `nlpkit finetune` on a recipe and a good train.csv."""
    return ["finetune", "{tmp}/r.yaml"], {"r.yaml": recipe(data, **keys), "train.csv": GOOD_CSV}


def validate(text: str | bytes) -> tuple[list[str], dict]:
    return ["recipe", "validate", "{tmp}/r.yaml"], {"r.yaml": text, "train.csv": GOOD_CSV}


def classify(*extra: str, files: dict | None = None) -> tuple[list[str], dict]:
    return ["classify", "-m", "{bert}", *extra], files or {}


def with_input(name: str, content: str | bytes, *extra: str) -> tuple[list[str], dict]:
    return classify("--input", f"{{tmp}}/{name}", *extra, files={name: content})


BILLION_LAUGHS = "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join([f'*{chr(97 + i)}'] * 10)}]\n" for i in range(8)
)

CASES = [
    # --- arguments and options -------------------------------------------------------
    ("no-input", *classify(), 2, "no input text"),
    ("empty-argument", *classify("", "x"), 2, "argument 1: empty text"),
    ("unknown-device", *classify("x", "--device", "gpu"), 2, "unknown device 'gpu'"),
    ("cuda-without-gpu", *classify("x", "--device", "cuda"), 2, "no CUDA GPU is available"),
    ("top-k-zero", *classify("x", "--top-k", "0"), 2, "Invalid value for '--top-k'"),
    (
        "batch-size-word",
        *classify("x", "--batch-size", "ten"),
        2,
        "Invalid value for '--batch-size'",
    ),
    ("unknown-format", *classify("x", "-f", "xml"), 2, "'xml' is not one of"),
    ("unknown-option", *classify("x", "--colour"), 2, "No such option: --colour"),
    ("labels-count", *classify("x", "--labels", "a,b,c"), 2, "--labels gives 3 names"),
    ("gen-max-new-tokens", ["generate", "x", "--max-new-tokens", "-1"], {}, 2, "at least 1"),
    ("gen-temperature", ["generate", "x", "--temperature", "0"], {}, 2, "greater than 0"),
    ("gen-top-p", ["generate", "x", "--top-p", "1.5"], {}, 2, "--top-p must be in (0, 1]"),
    ("sum-max-new-tokens", ["summarize", "x", "--max-new-tokens", "-1"], {}, 2, "at least 1"),
    ("tr-max-new-tokens", ["translate", "x", "--max-new-tokens", "-1"], {}, 2, "at least 1"),
    ("tr-same-language", ["translate", "x", "--src", "en", "--tgt", "en"], {}, 2, "both 'en'"),
    ("unknown-command", ["clasify", "x"], {}, 2, "No such command 'clasify'"),
    # --- input files -------------------------------------------------------------------
    ("missing-input", *classify("--input", "{tmp}/nope.txt"), 2, "nope.txt: no such file"),
    ("directory-input", *classify("--input", "{tmp}"), 2, "is a directory, expected a file"),
    ("binary-txt", *with_input("in.txt", b"\x89PNG\r\n\x1a\n\x00\xff\xfe"), 2, "not valid UTF-8"),
    ("latin1-csv", *with_input("in.csv", "text\ncaf\xe9\n".encode("latin-1")), 2, "line 2 is not"),
    ("utf16-txt", *with_input("in.txt", "hello\n".encode("utf-16")), 2, "not valid UTF-8"),
    ("empty-txt", *with_input("in.txt", ""), 2, "in.txt: empty file"),
    ("blank-lines-txt", *with_input("in.txt", "a\n\n  \n"), 2, "line 2: empty text"),
    ("empty-csv", *with_input("in.csv", ""), 2, "empty file"),
    # a batch job (--input to --output) refuses an input without rows as the stream does
    ("job-empty-txt", *with_input("in.txt", "", "-o", "{tmp}/o.jsonl"), 2, "no rows to process"),
    ("job-header-only", *with_input("in.csv", "text\n", "-o", "{tmp}/o.csv"), 2, "no rows"),
    ("job-blank-jsonl", *with_input("in.jsonl", "\n", "-o", "{tmp}/o.parquet"), 2, "no rows"),
    ("header-only-csv", *with_input("in.csv", "text,label\n"), 2, "header only"),
    ("header-only-tsv", *with_input("in.tsv", "sentence\tlabel\n"), 2, "header only"),
    ("ragged-csv", *with_input("in.csv", "text,label\na,1\nb\n"), 2, "line 3: 1 field,"),
    ("ragged-tsv", *with_input("in.tsv", "text\tlabel\na\t1\tx\n"), 2, "line 2: 3 fields"),
    ("stray-quote-csv", *with_input("in.csv", 'text\n"never closed\nb\n'), 2, "malformed CSV"),
    ("quote-mid-csv", *with_input("in.csv", 'text,n\n"a"b,1\n'), 2, "malformed CSV"),
    ("no-text-column", *with_input("in.csv", "a,b\n1,2\n"), 2, "pass --text-column"),
    (
        "named-column-missing",
        *with_input("in.csv", "text\na\n", "--text-column", "body"),
        2,
        "no column 'body'",
    ),
    ("empty-cell-csv", *with_input("in.csv", "text,n\na,1\n,2\n"), 2, "line 3: empty text"),
    ("empty-jsonl", *with_input("in.jsonl", "\n\n"), 2, "empty file"),
    ("bad-json-line", *with_input("in.jsonl", '{"text": "a"}\n{oops\n'), 2, "line 2: invalid JSON"),
    ("null-text-jsonl", *with_input("in.jsonl", '{"text": "a"}\n{"text": null}\n'), 2, "is null"),
    ("list-line-jsonl", *with_input("in.jsonl", "[1, 2]\n"), 2, "expected an object"),
    (
        "mixed-text-types",
        *with_input("in.jsonl", '{"text": "a"}\n{"text": [1]}\n'),
        2,
        "line 2: column 'text' is a list",
    ),
    (
        "json-object-file",
        *with_input("in.json", '{"text": "a", "b": 1}'),
        2,
        "expected a JSON array",
    ),
    ("corrupt-parquet", *with_input("in.parquet", b"PAR1\x00garbage"), 2, "not a readable parquet"),
    (
        "summarize-binary-file",
        ["summarize", "{tmp}/doc.txt"],
        {"doc.txt": b"\xff\xfe\x00"},
        2,
        "not valid UTF-8",
    ),
    # --- a text argument that names a file (README's `nlpkit summarize article.txt`) ------
    (
        "summarize-missing-file",
        ["summarize", "no-such-article.txt", "--model", "smollm2"],
        {},
        2,
        "argument 1: no-such-article.txt: no such file",
    ),
    ("summarize-directory", ["summarize", "{tmp}/d/"], {"d/": ""}, 2, "is a directory"),
    ("translate-missing-file", ["translate", "x", "./notes.md"], {}, 2, "argument 2: ./notes.md"),
    ("generate-missing-file", ["generate", "prompt.txt"], {}, 2, "prompt.txt: no such file"),
    (
        "classify-file-argument",
        *classify("{tmp}/in.txt", files={"in.txt": "a\n"}),
        2,
        "in.txt is a file; pass --input",
    ),
    # --- models ------------------------------------------------------------------------
    ("model-missing-folder", ["classify", "x", "-m", "{tmp}/nomodel"], {}, 1, "no such folder"),
    ("model-is-a-file", ["classify", "x", "-m", "{tmp}/m.txt"], {"m.txt": "x"}, 1, "is a file"),
    (
        "model-empty-folder",
        ["classify", "x", "-m", "{tmp}/empty"],
        {"empty/": ""},
        1,
        "no config.json",
    ),
    ("model-no-weights", ["classify", "x", "-m", "{broken}/no-weights"], {}, 1, "no weights"),
    (
        "model-corrupt-weights",
        ["classify", "x", "-m", "{broken}/corrupt-weights"],
        {},
        1,
        "cannot load",
    ),
    (
        "model-corrupt-config",
        ["classify", "x", "-m", "{broken}/corrupt-config"],
        {},
        1,
        "config.json",
    ),
    ("tokenizer-mismatch", ["classify", "x", "-m", "{broken}/mismatch"], {}, 1, "does not belong"),
    ("pickle-only-weights", ["classify", "x", "-m", "{broken}/pickle"], {}, 1, "--allow-pickle"),
    ("summarize-with-bert", ["summarize", "x", "-m", "{bert}"], {}, 1, "not a text generator"),
    ("translate-with-gpt2", ["translate", "x", "-m", "{gpt2}"], {}, 1, "not an encoder-decoder"),
    ("generate-with-t5", ["generate", "x", "-m", "{t5}"], {}, 1, "is an encoder-decoder"),
    ("hub-id-offline", ["classify", "x", "-m", "org/missing"], {}, 1, "not in the local cache"),
    # --- outputs -----------------------------------------------------------------------
    (
        "output-exists",
        *classify("x", "-o", "{tmp}/o.jsonl", files={"o.jsonl": "old"}),
        1,
        "already exists",
    ),
    ("output-is-directory", *classify("x", "-o", "{tmp}"), 1, "is a directory"),
    ("output-no-parent", *classify("x", "-o", "{tmp}/no/such/o.jsonl"), 1, "no such folder"),
    ("output-read-only", *classify("x", "-o", "/proc/nlpkit-o.jsonl"), 1, "cannot write there"),
    # --- recipes -----------------------------------------------------------------------
    ("recipe-missing", ["recipe", "validate", "{tmp}/none.yaml"], {}, 2, "no such file"),
    ("recipe-directory", ["recipe", "validate", "{tmp}"], {}, 2, "is a directory"),
    ("recipe-malformed", *validate("task: [unclosed\n"), 2, "r.yaml:2: invalid YAML"),
    ("recipe-tabs", *validate("task:\n\tmodel: x\n"), 2, "invalid YAML"),
    ("recipe-list", *validate("- task: text-classification\n"), 2, "a recipe is a mapping"),
    ("recipe-scalar", *validate("just words\n"), 2, "a recipe is a mapping"),
    ("recipe-empty", *validate(""), 2, "the recipe is empty"),
    ("recipe-binary", *validate(b"\xff\xfe\x00\x01"), 2, "not valid UTF-8"),
    ("recipe-unknown-task", *validate(recipe(task="sentiment")), 2, "'sentiment' is not one of"),
    (
        "recipe-wrong-type",
        *validate(recipe(training="  epochs: three\n")),
        2,
        "epochs: expected a valid number",
    ),
    ("recipe-list-for-section", *validate(recipe(top="lora: [1, 2]\n")), 2, "expected a section"),
    ("recipe-number-keys", *validate(recipe(top="7: x\n")), 2, "keys should be strings"),
    ("recipe-missing-train", *validate(recipe("  train_file: {tmp}/no.csv\n")), 2, "no such file"),
    (
        "recipe-train-is-dir",
        ["recipe", "validate", "{tmp}/r.yaml"],
        {"r.yaml": recipe("  train_file: {tmp}/d.csv\n"), "d.csv/": ""},
        2,
        "is a folder",
    ),
    ("recipe-alias-bomb", *validate(BILLION_LAUGHS), 2, "too large"),
    (
        "recipe-bad-set",
        ["recipe", "validate", "{tmp}/r.yaml", "--set", "x"],
        {"r.yaml": recipe()},
        2,
        "expected KEY.PATH=VALUE",
    ),
    # --- fine-tuning and evaluation ----------------------------------------------------
    ("finetune-no-recipe", ["finetune"], {}, 2, "Missing argument 'recipe'"),
    (
        "finetune-binary-train",
        ["finetune", "{tmp}/r.yaml"],
        {"r.yaml": recipe(), "train.csv": b"\x00\x01\xff" * 50},
        2,
        "binary data",
    ),
    (
        "finetune-ragged-train",
        ["finetune", "{tmp}/r.yaml"],
        {"r.yaml": recipe(), "train.csv": "text,label\na,1\nb,0,7,8\n"},
        2,
        "Expected 2 fields in line 3",
    ),
    (
        "finetune-header-only",
        ["finetune", "{tmp}/r.yaml"],
        {"r.yaml": recipe(), "train.csv": "text,label\n"},
        2,
        "header only",
    ),
    (
        "finetune-unseen-label",
        ["finetune", "{tmp}/r.yaml"],
        {
            "r.yaml": recipe("  train_file: {tmp}/t.csv\n" + LABELS),
            "t.csv": "text,label\nx,a\ny,c\n",
        },
        2,
        "label 'c' is not one of a, b",
    ),
    (
        "finetune-mixed-labels",
        ["finetune", "{tmp}/r.yaml"],
        {
            "r.yaml": recipe("  train_file: {tmp}/t.jsonl\n"),
            "t.jsonl": '{"text": "a", "label": 1}\n{"text": "b", "label": "pos"}\n',
        },
        2,
        "label column 'label' mixes",
    ),
    (
        "finetune-null-text",
        ["finetune", "{tmp}/r.yaml"],
        {
            "r.yaml": recipe("  train_file: {tmp}/t.jsonl\n"),
            "t.jsonl": '{"text": "a", "label": 1}\n{"text": null, "label": 0}\n',
        },
        2,
        "no text in column 'text'",
    ),
    ("finetune-no-weights", *fine(model="{broken}/no-weights"), 1, "no weights"),
    (
        "finetune-output-is-file",
        *fine(output_dir="{tmp}/train.csv"),
        1,
        "is a file, expected a folder",
    ),
    ("finetune-output-read-only", *fine(output_dir="/proc/nlpkit-run"), 1, "cannot write"),
    (
        "finetune-resume-nothing",
        ["finetune", "{tmp}/r.yaml", "--resume"],
        {"r.yaml": recipe(), "train.csv": GOOD_CSV},
        1,
        "holds no nlpkit run",
    ),
    (
        "evaluate-missing-model",
        [
            "evaluate",
            "-m",
            "{tmp}/none",
            "--task",
            "text-classification",
            "--data",
            "{tmp}/train.csv",
        ],
        {"train.csv": GOOD_CSV},
        2,
        "no such folder",
    ),
    (
        "evaluate-unknown-task",
        ["evaluate", "-m", "{bert}", "--task", "sentiment", "--data", "{tmp}/train.csv"],
        {"train.csv": GOOD_CSV},
        2,
        "'sentiment' is not one of",
    ),
    (
        "evaluate-binary-data",
        ["evaluate", "-m", "{bert}", "--task", "text-classification", "--data", "{tmp}/d.csv"],
        {"d.csv": b"\x00\xff" * 40},
        2,
        "binary data",
    ),
    ("evaluate-no-recipe", ["evaluate", "-m", "{tmp}"], {}, 2, "pass --recipe FILE or --data FILE"),
]


@pytest.fixture(scope="module")
def broken(tiny, tmp_path_factory) -> Path:
    """Damaged copies of the tiny bert: weights missing, corrupt or pickled; a foreign tokenizer."""
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    root = tmp_path_factory.mktemp("broken-models")
    for name in ("no-weights", "corrupt-weights", "corrupt-config", "mismatch", "pickle"):
        shutil.copytree(tiny["bert"], root / name)
    (root / "no-weights" / "model.safetensors").unlink()
    (root / "corrupt-weights" / "model.safetensors").write_bytes(b"\x08\x00\x00\x00garbage!")
    (root / "corrupt-config" / "config.json").write_text("{not json", encoding="utf-8")
    tokenizer = AutoTokenizer.from_pretrained(tiny["bert"])
    tokenizer.add_tokens([f"extra{i}" for i in range(300)])
    tokenizer.save_pretrained(root / "mismatch")
    model = AutoModelForSequenceClassification.from_pretrained(tiny["bert"])
    (root / "pickle" / "model.safetensors").unlink()
    torch.save(model.state_dict(), root / "pickle" / "pytorch_model.bin")
    return root


def _fill(text: str, values: dict[str, str]) -> str:
    for key, value in values.items():
        text = text.replace("{" + key + "}", value)
    return text


def _prepare(tmp_path: Path, tiny: dict, broken: Path, argv: list[str], files: dict) -> list[str]:
    values = {**tiny, "tmp": str(tmp_path), "broken": str(broken)}
    for name, content in files.items():
        path = tmp_path / name
        if name.endswith("/"):
            path.mkdir(parents=True, exist_ok=True)
        elif isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(_fill(content, values), encoding="utf-8")
    return [_fill(arg, values) for arg in argv]


def _assert_one_error_line(err: str, fragment: str) -> None:
    assert "Traceback" not in err, err
    lines = err.splitlines()
    errors = [line for line in lines if line.startswith("error: ")]
    assert len(errors) == 1 and errors[0] == lines[-1], err
    assert all(line.startswith(("warning: ", "model: ")) for line in lines[:-1]), err
    assert fragment in errors[0], err


@pytest.mark.parametrize(
    ("argv", "files", "code", "fragment"),
    [pytest.param(*case[1:], id=case[0]) for case in CASES],
)
def test_bad_input_gives_one_error_line(
    capsys, monkeypatch, tmp_path, tiny, broken, argv, files, code, fragment
):
    if fragment == "no CUDA GPU is available":
        import torch

        if torch.cuda.is_available():
            pytest.skip("this machine has a GPU")
    in_proc = "/proc/" in " ".join(argv) + json.dumps({k: str(v) for k, v in files.items()})
    if in_proc and not Path("/proc/self").exists():
        pytest.skip("/proc is not procfs here: no folder that even root cannot write")
    args = _prepare(tmp_path, tiny, broken, argv, files)
    got, out, err = invoke(capsys, monkeypatch, *args)
    _assert_one_error_line(err, fragment)
    assert got == code, err
    assert out == ""


def test_the_table_covers_every_command():
    commands = {case[1][0] for case in CASES}
    assert {"classify", "generate", "summarize", "translate", "finetune", "evaluate"} <= commands
    assert ["recipe", "validate"] in [case[1][:2] for case in CASES]
    assert len(CASES) >= 60


@pytest.mark.parametrize(
    ("argv", "files", "code", "fragment"),
    [
        pytest.param(*case[1:], id=case[0])
        for case in CASES
        if case[0]
        in {
            "binary-txt",
            "ragged-csv",
            "recipe-list",
            "model-no-weights",
            "unknown-option",
            "summarize-missing-file",
        }
    ],
)
def test_bad_input_through_the_real_command(tmp_path, tiny, broken, argv, files, code, fragment):
    args = _prepare(tmp_path, tiny, broken, argv, files)
    result = run_nlpkit(*args, timeout=120)
    _assert_one_error_line(result.stderr, fragment)
    assert result.returncode == code and result.stdout == ""


def test_bad_bytes_on_stdin_get_the_iconv_hint(tiny):
    """The bytes a latin-1 pipe sends, through the real command: checked as a file's are."""
    result = subprocess.run(
        [*nlpkit_command(), "classify", "-", "-m", tiny["bert"]],
        input=b"fine\ngood \xff movie\n",
        capture_output=True,
        env=subprocess_env(),
        timeout=120,
    )
    _assert_one_error_line(result.stderr.decode(), "stdin: line 2 is not valid UTF-8")
    assert "iconv -f latin1 -t utf-8" in result.stderr.decode()
    assert result.returncode == 2 and result.stdout == b""


@pytest.mark.parametrize(
    ("text", "path"),
    [
        ("article.txt", True),
        ("./notes", True),
        ("~/a.md", True),
        ("/tmp/doc", True),
        ("and/or", False),
        ("https://example.org/a.txt", False),
        ("/help", False),
        ("read article.txt", False),
        ("great!", False),
    ],
)
def test_only_a_word_shaped_like_a_path_is_taken_for_a_file(text, path):
    from nlpkit.inputs.readers import looks_like_path

    assert looks_like_path(text) == path
