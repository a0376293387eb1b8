"""EvseManager: the charging logic of one EVSE (IEC 61851-1 BASIC charging)."""
