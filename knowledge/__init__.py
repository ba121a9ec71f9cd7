"""The knowledge engine: corpus parsing, normalisation, index, matching. No chats, no database."""
