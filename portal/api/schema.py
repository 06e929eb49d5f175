"""Additions to the generated OpenAPI schema."""

ERROR_SCHEMA = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["status", "code", "message"],
            "properties": {
                "status": {"type": "integer"},
                "code": {"type": "string"},
                "message": {"type": "string"},
                "details": {},
            },
        }
    },
}

ERROR_RESPONSES = {
    "400": "Invalid input, or an action the current state refuses; `details` names each field.",
    "401": "No credentials, or an invalid or revoked token.",
    "403": "Signed in, but not allowed.",
    "404": "No such object, or one you may not see.",
    "405": "This method is not allowed here.",
    "413": "The request body is too large.",
    "415": "Unsupported content type.",
    "429": "Too many requests from this token or person; retry after the seconds in `Retry-After`.",
}


def add_error_responses(result, generator, request, public):
    """Every operation can answer with the shared error shape (see portal.api.errors)."""
    components = result.setdefault("components", {}).setdefault("schemas", {})
    components["Error"] = ERROR_SCHEMA
    for path_item in result.get("paths", {}).values():
        for method, operation in path_item.items():
            if method not in {"get", "post", "put", "patch", "delete"}:
                continue
            responses = operation.setdefault("responses", {})
            for status, description in ERROR_RESPONSES.items():
                responses.setdefault(
                    status,
                    {
                        "description": description,
                        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
                    },
                )
    return result
