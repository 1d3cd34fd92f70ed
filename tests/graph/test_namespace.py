"""migrepo.graph shows exactly the names it lists in ``__all__``."""

from __future__ import annotations


def test_public_names() -> None:
    import migrepo.graph

    # Names load lazily (PEP 562): every name in __all__ resolves, and nothing
    # public sits in the namespace without being listed. (Under pytest, whose
    # pytest11 plugin migrepo ships, assertion rewriting adds '@py_builtins' and
    # '@pytest_ar': not identifiers, not names anyone imports.)
    for name in migrepo.graph.__all__:
        assert getattr(migrepo.graph, name) is not None
    assert sorted(migrepo.graph.__all__) == sorted(
        name
        for name in vars(migrepo.graph)
        if name.isidentifier() and not name.startswith("_")
        and name not in {"build", "export", "queries", "records", "render"}
    )
