"""API Gateway TOKEN authorizer: the `openai` client's `Authorization: Bearer <key>` becomes the API key.

The REST API uses `apiKeySource: AUTHORIZER`, so API Gateway checks the key this returns as
`usageIdentifierKey` against the usage plan (403 if it is not a key of the plan) and counts the request
against the key's throttle and quota. This function only reshapes the header; it makes no decision
beyond rejecting a header that is not a bearer token (401). The policy covers every method of the
stage, so API Gateway's cache of this answer holds for all routes.

    python -c "from handler import lambda_handler; print(lambda_handler({'authorizationToken': \
'Bearer ' + 'k' * 30, 'methodArn': 'arn:aws:execute-api:r:1:a/prod/POST/v1/x'}, None))"
"""

from __future__ import annotations

PREFIX = "Bearer "


def lambda_handler(event, context):
    token = event.get("authorizationToken") or ""
    if not token.startswith(PREFIX) or not token[len(PREFIX):].strip():
        # API Gateway maps this exact message to 401 Unauthorized.
        raise Exception("Unauthorized")  # noqa: TRY002 - the message is API Gateway's contract
    key = token[len(PREFIX):].strip()
    # arn:aws:execute-api:region:account:api-id/stage/METHOD/path -> every method of this stage
    api_arn, stage = event["methodArn"].split("/")[:2]
    return {
        "principalId": "api-key",
        "policyDocument": {"Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Action": "execute-api:Invoke", "Resource": f"{api_arn}/{stage}/*"}]},
        "usageIdentifierKey": key,
    }
