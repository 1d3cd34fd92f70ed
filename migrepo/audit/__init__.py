"""Git and the ledger read together: history, sync and verify."""
