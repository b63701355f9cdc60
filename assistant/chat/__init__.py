"""Chat and generation jobs: conversations, job submission, workers' execution, streaming, callbacks."""
