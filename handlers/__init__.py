"""Channel adapters: translate between a channel and the conversation engine, never decide."""
