"""The Ollama simulator: `python -m simulator --port 11434`. See simulator/app.py."""
