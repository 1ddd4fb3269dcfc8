"""Equinox's abstract/final pattern (https://docs.kidger.site/equinox/pattern/) in the neuron models.

Every class of the model hierarchy (`AbstractNeuron` and everything below it, `Network`
included) is either abstract (named Abstract*, not instantiable) or final (`typing.final`,
never subclassed), and a subclass implements only abstract methods and attributes: no
concrete method, property or class attribute of a base is overridden. Equinox 0.13 does not
check this itself (`strict=True` is a no-op there), so this test does.
"""

import abc
import importlib
import inspect
import pkgutil

import equinox as eqx
import pytest

import neurodyn
from neurodyn.neurons.base import AbstractNeuron, AbstractSpikingNeuron


def _all_modules():
    for info in pkgutil.walk_packages(neurodyn.__path__, "neurodyn."):
        if "._kernels" in info.name:
            continue
        try:
            importlib.import_module(info.name)
        except ImportError:  # a module of an optional extra that is not installed
            pass


def _subclasses(cls):
    out, todo = set(), [cls]
    while todo:
        for sub in todo.pop().__subclasses__():
            if sub.__module__.startswith("neurodyn") and sub not in out:
                out.add(sub)
                todo.append(sub)
    return out


_all_modules()
MODEL_CLASSES = sorted(_subclasses(AbstractNeuron) | {AbstractNeuron}, key=lambda c: c.__qualname__)


def _is_abstract(cls) -> bool:
    return bool(
        getattr(cls, "__abstractmethods__", ()) or cls.__abstractvars__ or cls.__abstractclassvars__
    )


def _abstract_in(base, name: str) -> bool:
    """Whether `name` is declared abstract (method or AbstractVar) in `base`."""
    value = base.__dict__.get(name)
    if value is not None:
        return getattr(value, "__isabstractmethod__", False)
    annotation = inspect.get_annotations(base).get(name)
    return annotation is not None and getattr(annotation, "__origin__", None) in (
        eqx.AbstractVar, eqx.AbstractClassVar,
    )


_DUNDER_OK = {"__init__", "__check_init__", "__doc__", "__module__", "__qualname__", "__annotations__",
              "__dict__", "__weakref__", "__abstractmethods__", "__abstractvars__",
              "__abstractclassvars__", "__final__", "_abc_impl", "__parameters__", "__orig_bases__",
              "__dataclass_fields__", "__dataclass_params__", "__match_args__", "__firstlineno__",
              "__static_attributes__", "__slots__", "__signature__"}


@pytest.mark.parametrize("cls", MODEL_CLASSES, ids=lambda c: c.__qualname__)
def test_every_model_class_is_abstract_or_final(cls):
    if cls.__name__.startswith("Abstract"):
        assert _is_abstract(cls), f"{cls.__qualname__} is named Abstract* but can be instantiated"
        with pytest.raises(TypeError, match="abstract"):
            cls()
    else:
        assert not _is_abstract(cls), f"{cls.__qualname__} still has abstract members"
        assert getattr(cls, "__final__", False), f"{cls.__qualname__} is concrete: mark it @typing.final"
        assert not _subclasses(cls), f"final {cls.__qualname__} is subclassed by {_subclasses(cls)}"


@pytest.mark.parametrize("cls", MODEL_CLASSES, ids=lambda c: c.__qualname__)
def test_no_concrete_member_is_overridden(cls):
    names = set(cls.__dict__) | set(inspect.get_annotations(cls))
    for name in sorted(names - _DUNDER_OK):
        for base in cls.__mro__[1:]:
            if base in (eqx.Module, object, abc.ABC) or not issubclass(base, eqx.Module):
                continue
            if name in base.__dict__ or name in inspect.get_annotations(base):
                assert _abstract_in(base, name), (
                    f"{cls.__qualname__}.{name} overrides the concrete {base.__qualname__}.{name}"
                )


def test_the_interfaces_leave_everything_to_implementations():
    # simulate and the monitors program against these two; Network implements the second
    for iface in (AbstractNeuron, AbstractSpikingNeuron):
        concrete = [k for k, v in iface.__dict__.items()
                    if callable(v) and not k.startswith("__") and not getattr(v, "__isabstractmethod__", False)]
        assert concrete == [], f"{iface.__name__} has concrete methods {concrete}"
    assert {"deliver", "delivery_state", "reset", "spiked", "threshold_distance"} <= AbstractSpikingNeuron.__abstractmethods__
    assert {"vector_field", "initial_state", "diffusion", "parameter_shapes"} <= AbstractNeuron.__abstractmethods__


def test_a_model_missing_a_method_cannot_be_built():
    from neurodyn.neurons import AbstractIntegrateAndFire

    class NoReset(AbstractIntegrateAndFire):
        threshold: float = 1.0
        refractory_period: float = 0.0
        state_names = ("v",)

        def vector_field(self, t, state, input_current):
            return {"v": input_current}

        def initial_state(self, n_neurons):
            return {"v": 0.0}

    with pytest.raises(TypeError, match="reset"):
        NoReset()
