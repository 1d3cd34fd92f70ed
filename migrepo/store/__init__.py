"""The migrations directory's files: sources, hashes, the index, HEADS, the cache."""
