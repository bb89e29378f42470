"""Certificate orders: the product state machine, usage bundles and revocation codes."""
