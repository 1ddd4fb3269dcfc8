"""`neurodyn gpt train/sample` on a small generated text file."""

import pytest

from neurodyn.transformer.cli import main
from neurodyn.transformer.corpus import toy_corpus
from neurodyn.transformer.train import load_checkpoint

SMALL = ["--vocab-size", "300", "--context", "16", "--d-model", "32", "--heads", "2",
         "--layers", "1", "--batch-size", "8", "--eval-every", "10", "--no-progress"]


@pytest.mark.slow  # ~20 s; checkpoint/resume stays covered by test_transformer_train
def test_train_resume_sample(tmp_path, capsys):
    text = tmp_path / "corpus.txt"
    text.write_text(toy_corpus(300, seed=0), encoding="utf-8")
    out = tmp_path / "run"
    assert main(["train", "--text", str(text), "--out", str(out), "--steps", "20", *SMALL]) == 0
    for name in ("tokenizer.json", "checkpoint.ckpt", "loss.png"):
        assert (out / name).exists(), name
    assert main(["train", "--text", str(text), "--out", str(out), "--steps", "30", "--resume", *SMALL]) == 0
    state, _, extra = load_checkpoint(out)
    assert state.step == 30 and state.history["step"] == list(range(1, 31))
    assert extra == {"tokenizer": "tokenizer.json"}
    capsys.readouterr()
    assert main(["sample", "--checkpoint", str(out), "--prompt", "The neuron", "--max-new-tokens", "10",
                 "--top-k", "5", "--seed", "1", "--attention-plot", str(tmp_path / "a.png")]) == 0
    printed = capsys.readouterr().out
    assert printed.startswith("The neuron") and (tmp_path / "a.png").exists()


def test_bad_input(tmp_path, capsys):
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    with pytest.raises(SystemExit, match="is empty"):
        main(["train", "--text", str(empty), "--out", str(tmp_path / "r")])
    text = tmp_path / "t.txt"
    text.write_text("some text " * 50)
    assert main(["train", "--text", str(text), "--out", str(tmp_path / "r"), "--vocab-size", "100"]) == 2
    assert "vocab_size must be an integer >= 257 (256 + len(special_tokens)" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["sample"])  # --checkpoint is required
