"""The worker process: `arq worker.main.WorkerSettings`."""
