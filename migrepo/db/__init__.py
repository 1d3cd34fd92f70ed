"""What migrepo keeps in the database: the migration lock and the ledger."""
