"""The assistant domain: conversations, messages, generation jobs, replies, callbacks (and their APIs)."""
