"""The comparison runner behind benchmarks/associative_memory.py and `neurodyn compare`:
table, curves, figures and atomic JSON, on two models at a small size."""

import json

import pytest

from neurodyn.memory import modern_hopfield
from neurodyn.memory.compare import (
    format_table,
    plot_comparison,
    run_comparison,
    write_json,
)


def test_comparison_table_figures_and_json(tmp_path):
    result = run_comparison(
        "quick", recall=False, digits=False, progress=False,
        model_list=[(modern_hopfield(32.0), [0.5, 2.0, 8.0], False)],
    )
    (modern,) = result["table"]
    # N = 100, 10 % flipped cues: one update still retrieves every pattern at P = 8 N, so
    # the curve never falls to 1/2 (critical load None)
    assert modern["model"] == "UHN dot/softmax β=32" and modern["critical_load"] is None
    assert result["curves"][modern["model"]]["fraction_retrieved"] == [1.0, 1.0, 1.0]
    assert modern["steps"] == 1 and modern["operations"] == 4 * 5 * 100  # P = 0.05 N = 5
    assert modern["memory_bytes"] == 4 * 5 * 100 and modern["basin_flip_fraction"] >= 0.3
    text = format_table(result)
    assert text.count("\n") == 1 and "alpha_c" in text
    paths = plot_comparison(result, tmp_path)
    assert {p.name for p in paths} == {"capacity.png", "robustness.png", "accuracy_vs_cost.png"}
    assert all(p.stat().st_size > 10_000 for p in paths)
    out = write_json(result, tmp_path / "associative_memory.json")
    assert json.loads(out.read_text())["table"][0]["model"] == modern["model"]
    assert not list(tmp_path.glob("*.tmp"))


def test_comparison_rejects_unknown_size():
    with pytest.raises(ValueError, match="size must be one of"):
        run_comparison("huge")


def test_cli_compare_is_a_subcommand():
    from neurodyn.cli import main

    with pytest.raises(SystemExit) as info:
        main(["compare", "--help"])
    assert info.value.code == 0
