"""LocalAllowList: a token validator that accepts the tokens on a configured list."""
