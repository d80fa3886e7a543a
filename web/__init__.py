"""The API process: `uvicorn web.main:app`."""
