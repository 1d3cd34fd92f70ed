"""Hypothesis strategies: random revision graphs as lists of records."""

from __future__ import annotations

from hypothesis import settings
from hypothesis import strategies as st

from migrepo.graph import RevisionRecord

FAST = settings(max_examples=100, deadline=None)
THOROUGH = settings(max_examples=250, deadline=None)  # for the lane connectivity check

# How many parents a revision gets: mostly one, sometimes none (another base),
# sometimes a merge of two to five.
_PARENT_COUNTS = st.sampled_from([0, 1, 1, 1, 1, 1, 1, 2, 2, 3, 4, 5])


@st.composite
def dag_records(draw: st.DrawFn, max_size: int = 30) -> list[RevisionRecord]:
    """A sound set of records: no duplicates, no missing parents, no cycles.

    Revision ``i`` takes its parents and dependencies among revisions ``< i``;
    ids are shuffled so they say nothing about the order, and so is the list.
    Some revisions carry a branch label, and some dependencies name it.
    """
    size = draw(st.integers(1, max_size))
    ids = draw(st.permutations([f"r{i}" for i in range(size)]))
    labels: dict[int, str] = {}
    records = []
    for i, rev in enumerate(ids):
        earlier = st.integers(0, i - 1)
        count = min(draw(_PARENT_COUNTS), i)
        parents = draw(st.lists(earlier, min_size=count, max_size=count, unique=True)) if i else []
        deps = draw(st.lists(earlier, max_size=2, unique=True)) if i else []
        if draw(st.integers(0, 4)) == 0:
            labels[i] = f"label{i}"
        records.append(
            RevisionRecord(
                rev,
                down_revisions=tuple(ids[j] for j in parents),
                dependencies=tuple(
                    labels[j] if j in labels and draw(st.booleans()) else ids[j] for j in deps
                ),
                branch_labels=(labels[i],) if i in labels else (),
                message=draw(st.text(max_size=12)),
                path=draw(st.none() | st.just(f"versions/{rev}.py")),
            )
        )
    return draw(st.permutations(records))
