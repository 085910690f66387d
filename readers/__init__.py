"""synthloom: readers. What a run reads from a user's files: documents (documents.py) and their chunks (chunks.py)."""
