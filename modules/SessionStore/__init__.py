"""SessionStore: keeps finished charging sessions in SQLite across restarts."""
