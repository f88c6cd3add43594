"""The public REST API's domain logic, shared by the Lambda handlers in `functions/`.

`schemas` (request bodies), `settings` (each function's environment), `errors` (typed errors and the
one status mapping), `http` (the Powertools resolver, body parsing, the event guard), `aws` (lazy boto3
clients), `telemetry` (catalogue metrics), and one module per route: `chat` (with `routing` and
`cache`), `moderation`, `models`, `feedback` (with `lake`). Nothing here imports torch.
"""
