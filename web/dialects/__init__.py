"""The other APIs this server speaks: OpenAI's and Ollama's, on the same queue."""
