"""Auth: routes tokens from providers through validators to the EVSE they are meant for."""
