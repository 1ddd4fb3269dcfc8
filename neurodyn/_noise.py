"""Noise terms: white-noise inputs and intrinsic noise as the diffusion of an Ito SDE.

    d y = f(t, y, I(t)) dt + g(t, y) dW

integrated with Euler-Maruyama (Diffrax's `Euler` on a `MultiTerm` of the drift and this
diffusion). Each clock step draws its Brownian increment from a key derived from the
global step, so chunked, continued and uninterrupted runs draw the same numbers.
"""

from __future__ import annotations

import diffrax
import jax
import jax.numpy as jnp

from .inputs import AbstractInput
from .neurons.base import AbstractNeuron, AbstractSpikingNeuron


def is_stochastic(model: AbstractNeuron, inp: AbstractInput) -> bool:
    """Whether a run draws random numbers (and so needs a key)."""
    spiking_random = isinstance(model, AbstractSpikingNeuron) and model.random_events
    return inp.noise_sigma is not None or bool(model.noisy_variables) or spiking_random


def describe_noise(model: AbstractNeuron, inp: AbstractInput) -> str:
    parts = []
    if inp.noise_sigma is not None:
        parts.append(f"noisy input {type(inp).__name__}")
    if model.noisy_variables:
        parts.append(f"noise on {model.noisy_variables}")
    if isinstance(model, AbstractSpikingNeuron) and model.random_events:
        parts.append("random spike sources")
    return ", ".join(parts)


def has_noise_term(model: AbstractNeuron, inp: AbstractInput) -> bool:
    """Whether the SDE has a diffusion term (noisy input or intrinsic noise)."""
    return inp.noise_sigma is not None or bool(model.noisy_variables)


class NoiseTerm(diffrax.AbstractTerm):
    """The diffusion part of the SDE, d y = f dt + g dW, with diagonal (per-neuron) noise.

    Two sources, each with its own Wiener process per neuron: white noise on the input
    current (I = mu(t) + sigma xi(t)) enters every variable through df/dI, which is computed
    with a JVP, so any model whose field is affine in its input gets the right diffusion;
    and intrinsic noise on the model's `noisy_variables` (amplitudes from `diffusion`).
    `path` is Diffrax's Brownian motion for this step (keyed by the global step).
    """

    path: diffrax.AbstractPath

    def vf(self, tau, y, args):
        model, inp, t_offset = args
        t = t_offset + tau
        out = {"zero": jax.tree.map(jnp.zeros_like, y)}  # gives prod the state's structure
        if inp.noise_sigma is not None:
            like = next(iter(y.values()))
            mean = jnp.broadcast_to(inp(t), like.shape).astype(like.dtype)
            sigma = jnp.broadcast_to(inp.noise_sigma, like.shape).astype(like.dtype)
            _, out["input"] = jax.jvp(lambda i: model.vector_field(t, y, i), (mean,), (sigma,))
        if model.noisy_variables:
            out["intrinsic"] = model.diffusion(t, y)
        return out

    def contr(self, t0, t1, **kwargs):
        return self.path.evaluate(t0, t1)

    def prod(self, vf, control):
        dy = dict(vf["zero"])
        if "input" in vf:
            dy = {k: g * control["input"] for k, g in vf["input"].items()}
        for k, b in vf.get("intrinsic", {}).items():
            dy[k] = dy[k] + b * control[k]
        return dy


def noise_path(model: AbstractNeuron, inp: AbstractInput, n: int, dtype, key) -> diffrax.UnsafeBrownianPath:
    """One Brownian path per noise source and neuron for one step (keyed by the step)."""
    shape = {}
    if inp.noise_sigma is not None:
        shape["input"] = jax.ShapeDtypeStruct((n,), dtype)
    for k in model.noisy_variables:
        shape[k] = jax.ShapeDtypeStruct((n,), dtype)
    return diffrax.UnsafeBrownianPath(shape=shape, key=key)
