"""Real parts the tests and benchmarks share: an OpenAI-compatible endpoint of the project's own
over any bestroute Backend (:mod:`tests.support.openai_endpoint`) and a uvicorn server on
127.0.0.1 in a thread (:mod:`tests.support.uvicorn_thread`)."""
