"""durable_host: run a Python Durable Functions app (v1 model) without Core Tools or .NET."""
