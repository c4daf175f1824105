"""Live occupancy: PostgreSQL is the truth (lot_capacities.occupied, kept in the session transaction);
Redis mirrors it for fast reads and streams changes; a periodic repair corrects drift."""
