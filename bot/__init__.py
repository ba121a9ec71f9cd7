"""helpbot: the conversation engine, storage, services and the composition root."""
