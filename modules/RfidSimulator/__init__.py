"""RfidSimulator: a token provider that presents scripted RFID cards."""
