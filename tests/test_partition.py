"""Drawing one process's block alone, and choosing the blocks.

The claims: (1) a block of targets drawn alone (`fixed_total_number_blocks(targets=...)`,
`potjans_diesmann(targets=...)`) is bit for bit the whole draw restricted to the block
(`restrict_targets`, which keeps each row's synapses in their order), so any number of
processes holds the same network as one process, and the two-process runs give the spikes of
one process (tests/test_distributed.py, slow); (2) synapse-balanced blocks split the synapses
evenly. References: the whole draw itself for (1); for (2) the PD14 synapse numbers
N_syn = ln(1 − C)/ln(1 − 1/(N_pre N_post)) (Potjans & Diesmann 2014, NEST example
`helpers.num_synapses_from_conn_probs`), computed here from the published table.
"""

import math

import jax
import numpy as np
import pytest

from neurodyn.models import potjans_diesmann
from neurodyn.models.potjans_diesmann import CONN_PROBS, N_FULL, process_blocks
from neurodyn.network import Normal, fixed_total_number_blocks
from neurodyn.network import connectivity as connectivity_module
from neurodyn.network.partition import balanced_blocks, block_bounds, partition, restrict_targets

BLOCKS = [(20_000, 0, 130), (0, 130, 20), (30_000, 150, 350)]  # (synapses, first target, size)
WEIGHTS = [Normal(2.0, 0.2, low=0.0), 1.5, Normal(-3.0, 0.3, high=0.0)]


def _count(conn) -> int:  # synapses of a table, on the host (no compilation per table shape)
    return int((np.asarray(conn.post_idx) < conn.n_post).sum())


def _same_table(a, b):
    for x, y in ((a.post_idx, b.post_idx), (a.weight, b.weight)):
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))
    assert (a.delay is None) == (b.delay is None)
    if a.delay is not None:
        np.testing.assert_array_equal(np.asarray(a.delay), np.asarray(b.delay))
    assert (a.n_pre, a.n_post) == (b.n_pre, b.n_post)


@pytest.mark.parametrize("tiles, delay", [(16, Normal(1.0, 0.5, low=0.05)), (7, None), (1000, Normal(1.0, 0.5, low=0.05))])
def test_a_block_drawn_alone_is_its_part_of_the_whole_draw(monkeypatch, tiles, delay):
    """Blocks cutting tiles, aligned with them, inside one tile, onto no synapse; tiny units of
    rows (many streams per piece); more tiles than targets (1000 > 500: empty tiles)."""
    monkeypatch.setattr(connectivity_module, "BLOCK_CHUNK", 2000)
    kw = dict(delay=delay, dt=0.1 if delay is not None else None, tiles=tiles)
    whole = fixed_total_number_blocks(jax.random.key(3), 300, BLOCKS, 500, WEIGHTS, **kw)
    assert _count(whole) == 50_000
    edges = connectivity_module.tile_bounds(500, tiles)
    for start, stop in [(0, 500), (0, 77), (77, 311), (311, 500), (5, 6), (130, 150),
                        (int(edges[1]), int(edges[3]))]:
        alone = fixed_total_number_blocks(jax.random.key(3), 300, BLOCKS, 500, WEIGHTS, targets=(start, stop), **kw)
        _same_table(alone, restrict_targets(whole, start, stop))
        if delay is not None:  # its own largest delay (the processes agree on the largest before a run)
            assert alone.max_delay <= whole.max_delay
    # a different tiling is a different (equally valid) network
    other = fixed_total_number_blocks(jax.random.key(3), 300, BLOCKS, 500, WEIGHTS, **{**kw, "tiles": tiles + 1})
    assert not np.array_equal(np.asarray(other.post_idx)[:, :10], np.asarray(whole.post_idx)[:, :10])


@pytest.fixture(scope="module")
def whole_pd14():
    return potjans_diesmann(0.005, key=jax.random.key(2))


def test_any_process_count_holds_the_network_of_one(whole_pd14):
    """PD14 at scale 0.005 (386 neurons, ≈ 1.5·10⁶ synapses), 3 synapse-balanced blocks:
    each rank's own draw is its block of the one-process draw (and so of any other split),
    its partition is the partition of the whole network, and the blocks together hold every
    synapse once. (Two processes: the slow two-process tests in tests/test_distributed.py.)"""
    net = whole_pd14.network
    size = 3
    blocks = process_blocks(0.005, size)
    total = 0
    for rank, block in enumerate(blocks):
        alone = potjans_diesmann(0.005, key=jax.random.key(2), targets=block)
        for p, q in zip(alone.network.projections, net.projections):
            _same_table(p.connectivity, restrict_targets(q.connectivity, *block))
            total += _count(p.connectivity)
        np.testing.assert_array_equal(alone.initial_state["v"], whole_pd14.initial_state["v"])
        if rank == size - 1:  # the partition a process runs: the same from either network
            mine, y_mine = partition(alone.network, rank, size, dt=0.1, initial_state=alone.initial_state, blocks=blocks)
            ref, y_ref = partition(net, rank, size, dt=0.1, initial_state=whole_pd14.initial_state, blocks=blocks)
            assert mine.blocks == ref.blocks == blocks
            for a, b in zip(mine.tables, ref.tables):
                _same_table(a, b)
            np.testing.assert_array_equal(y_mine["v"], y_ref["v"])
    assert total == sum(_count(p.connectivity) for p in net.projections)


def _pd14_in_degrees_from_the_table(scale=1.0):
    """Expected in-degree per neuron from the published C and N (independent of the model code)."""
    n = np.asarray(N_FULL, float)
    with np.errstate(divide="ignore"):
        n_syn = np.log(1 - CONN_PROBS) / np.log(1 - 1 / np.outer(n, n))
    sizes = np.round(n * scale).astype(int)
    return np.repeat(np.round(n_syn * scale).sum(axis=1) / sizes, sizes)


def test_synapse_balanced_blocks_of_the_full_microcircuit():
    """Full scale, expected numbers: equal neuron blocks hold 168.0 M and 130.9 M synapses;
    synapse-balanced blocks hold total/size each to within one neuron's in-degree (≤ 5 888,
    L4I); any size up to 8 processes."""
    k_in = _pd14_in_degrees_from_the_table()
    total = k_in.sum()
    assert total == pytest.approx(2.9888e8, rel=1e-4)
    halves = [k_in[a:b].sum() for a, b in process_blocks(1.0, 2, balance="neurons")]
    assert halves == pytest.approx([168.01e6, 130.87e6], abs=0.01e6)
    for size in (2, 3, 5, 8):
        blocks = process_blocks(1.0, size)
        assert blocks[0][0] == 0 and blocks[-1][1] == 77169
        assert all(a[1] == b[0] for a, b in zip(blocks, blocks[1:]))
        for a, b in blocks:
            assert abs(k_in[a:b].sum() - total / size) <= k_in.max(), (size, a, b)


def test_synapse_balanced_blocks_hold_the_same_drawn_synapses(whole_pd14):
    """The drawn network at scale 0.005, 3 processes: each block's synapses within 2 % of a
    third (one neuron's in-degree ≈ 5 900 is 1.2 % of a block here; the draw's noise ≈ 0.1 %);
    equal neuron blocks are 20 % off."""
    net = whole_pd14.network
    in_deg = sum(np.bincount(np.asarray(p.connectivity.post_idx).ravel(), minlength=net.n + 1)[: net.n]
                 for p in net.projections)
    third = in_deg.sum() / 3
    balanced = [in_deg[a:b].sum() / third - 1 for a, b in process_blocks(0.005, 3)]
    equal = [in_deg[a:b].sum() / third - 1 for a, b in process_blocks(0.005, 3, balance="neurons")]
    assert max(map(abs, balanced)) < 0.02 and max(map(abs, equal)) > 0.15


def test_balanced_blocks_small_cases():
    assert balanced_blocks([1, 1, 1, 1, 2, 2], 2) == ((0, 4), (4, 6))  # 4 + 4
    assert balanced_blocks(np.ones(10), 3) == ((0, 3), (3, 7), (7, 10))  # 3.33 per block: 3, 4, 3
    assert balanced_blocks(np.ones(10), 3) != tuple(block_bounds(10, 3, r) for r in range(3))  # (0,3),(3,6),(6,10)
    assert balanced_blocks([0, 0, 0, 9], 2) == ((0, 3), (3, 4))  # all the cost in the last neuron
    assert balanced_blocks([9, 0, 0, 0], 3) == ((0, 1), (1, 2), (2, 4))  # at least one neuron per block
    assert balanced_blocks([5.0], 1) == ((0, 1),)


@pytest.mark.parametrize("cost, size, match", [
    ([1.0, float("nan")], 1, "finite values >= 0"),
    ([1.0, -1.0, 3.0], 2, "finite values >= 0"),
    ([0.0, 0.0], 1, "positive sum"),
    (np.ones((2, 2)), 1, "1-D array"),
    ([1.0, 1.0], 3, "every process needs at least one neuron"),
    ([1.0, 1.0], 0, "size must be an integer >= 1"),
])
def test_balanced_blocks_bad_inputs(cost, size, match):
    with pytest.raises(ValueError, match=match):
        balanced_blocks(cost, size)


@pytest.mark.no_typecheck  # the functions' own messages, not the hook's
def test_bad_blocks_and_targets_are_refused(whole_pd14):
    net = whole_pd14.network
    n = net.n
    for blocks in [((0, 100),), ((0, 100), (101, n)), ((0, 0), (0, n)), ((0, 100), (100, n + 1)), [(0, 1.5), (2, n)]]:
        with pytest.raises(ValueError, match=rf"blocks must be 2 \(start, stop\) pairs, one per rank, tiling \[0, {n}\)"):
            partition(net, 0, 2, dt=0.1, blocks=blocks)
    with pytest.raises(ValueError, match=r"rank must be in \[0, size - 1\] = \[0, 1\], got 2"):
        partition(net, 2, 2, dt=0.1)
    with pytest.raises(ValueError, match="balance must be 'synapses' or 'neurons'"):
        process_blocks(0.005, 2, balance="spikes")
    args = (jax.random.key(0), 4, [(5, 0, 2)], 2, [1.0])
    for targets in [(1, 1), (0, 3), (-1, 1), (0.0, 1), [0, 1]]:
        with pytest.raises(ValueError, match=r"targets must be None or \(start, stop\) with 0 <= start < stop <= n_post = 2"):
            fixed_total_number_blocks(*args, targets=targets)
    with pytest.raises(ValueError, match="tiles must be an integer >= 1"):
        fixed_total_number_blocks(*args, tiles=0)


def test_in_degree_law_of_a_block_drawn_alone():
    """A block drawn alone is NEST's fixed_total_number restricted to it: the synapses onto
    targets [150, 300) of block 2 (350 targets, 30 000 synapses) are Binomial(30 000, 150/350)
    in number (mean 12 857, SD 86), and uniform over those targets (χ², 149 dof)."""
    alone = fixed_total_number_blocks(jax.random.key(9), 300, BLOCKS, 500, WEIGHTS, targets=(150, 300))
    post = np.asarray(alone.post_idx)
    post = post[post < 500]
    mean, sd = 30_000 * 150 / 350, math.sqrt(30_000 * (150 / 350) * (200 / 350))
    assert abs(post.size - mean) < 5 * sd
    counts = np.bincount(post - 150, minlength=150)
    chi2 = ((counts - counts.mean()) ** 2 / counts.mean()).sum()
    assert chi2 < 149 + 5 * math.sqrt(2 * 149)
