"""The typechecker the test run's jaxtyping import hook applies (tests/conftest.py).

beartype with PEP 484's implicit numeric tower: an int is accepted where a float is annotated
(as a type checker and a user would expect: `phase_plane(x_range=(-80, 50))`).
"""

from beartype import BeartypeConf, beartype

typechecker = beartype(conf=BeartypeConf(is_pep484_tower=True))
