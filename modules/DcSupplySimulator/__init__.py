"""DcSupplySimulator: a DC supply, its isolation monitor and meter, and the EV on the cable."""
