"""The revision graph: records in, an ``nx.DiGraph`` out, queries and renderers on top."""
