"""`GET /asyncapi.json`: the AsyncAPI document of every topic lastmeter writes."""
