"""migrepo.graph shows exactly the names it lists in ``__all__``."""

from __future__ import annotations


def test_public_names() -> None:
    import migrepo.graph

    # Names load lazily (PEP 562): every name in __all__ resolves, and nothing
    # public sits in the namespace without being listed.
    for name in migrepo.graph.__all__:
        assert getattr(migrepo.graph, name) is not None
    assert sorted(migrepo.graph.__all__) == sorted(
        name
        for name in vars(migrepo.graph)
        if not name.startswith("_")
        and name not in {"build", "export", "queries", "records", "render"}
    )
