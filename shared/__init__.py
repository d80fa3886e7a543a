"""Code both processes import: settings, database, queue and stream contracts, the Ollama client."""
