"""The OpenAPI 3.1 description of ``/api/v1``, served at ``/api/v1/openapi.json``.

Built from the same enums and detail fields the service checks against, so the document
cannot drift from what the server accepts. Tests hold every response the server gives to
the schemas here.
"""

from __future__ import annotations

from typing import Any

from dsr.models import AssuranceLevel, Channel, RequestStatus, Right
from dsr.request_details import FIELDS, MESSAGE, DetailField

API_VERSION = "1.0.0"


def _detail_schema(field: DetailField) -> dict[str, Any]:
    if field.kind == "choice":
        schema: dict[str, Any] = {"type": "string", "enum": list(field.choices)}
    elif field.kind == "https_url":
        schema = {
            "type": "string",
            "maxLength": field.max_length,
            "pattern": "^https://",
            "description": "An https:// address with a host name.",
        }
    else:
        schema = {"type": "string", "maxLength": field.max_length}
    if field.required:
        return {**schema, "minLength": 1} if field.kind != "choice" else schema
    # Optional fields may also be sent as null.
    schema["type"] = ["string", "null"]
    if "enum" in schema:
        schema["enum"] = [*schema["enum"], None]
    return schema


def _details_schema(right: Right) -> dict[str, Any]:
    fields = (*FIELDS[right], MESSAGE)
    schema: dict[str, Any] = {
        "type": "object",
        "properties": {"version": {"type": "integer", "const": 1}}
        | {f.name: _detail_schema(f) for f in fields},
        "additionalProperties": False,
    }
    required = [f.name for f in fields if f.required]
    if required:
        schema["required"] = required
    conditions = [
        f"`{f.name}` is required when `{f.only_when[0]}` is "
        f"{' or '.join(repr(v) for v in f.only_when[1])}; otherwise it is checked but not kept."
        for f in fields
        if f.only_when is not None
    ]
    if conditions:
        schema["description"] = " ".join(conditions)
    return schema


def _request_name(right: Right) -> str:
    return f"{right.value.title().replace('_', '')}Request"


def _new_request_schema(right: Right, details_name: str) -> dict[str, Any]:
    required = ["right", "subject"]
    if any(f.required for f in FIELDS[right]):
        required.append("details")
    return {
        "type": "object",
        "required": required,
        "additionalProperties": False,
        "properties": {
            "right": {"type": "string", "const": right.value},
            "subject": {"$ref": "#/components/schemas/Subject"},
            "details": {
                "$ref": f"#/components/schemas/{details_name}",
                "description": "What the subject asks for.",
            },
            "received_at": {
                "type": "string",
                "format": "date-time",
                "description": (
                    "When the request reached the controller (RFC 3339, with an offset); "
                    "starts the legal clock. Not in the future, at most a year ago. "
                    "Default: now."
                ),
            },
            "identity_verified_by": {
                "type": "string",
                "minLength": 1,
                "maxLength": 200,
                "description": (
                    "How the calling system authenticated the subject, e.g. 'BankID login "
                    "in the app'. The request is then verified at once (assurance "
                    "email_verified, method api:<token name>) and the acknowledgement "
                    "carries no code."
                ),
            },
            "language": {
                "type": "string",
                "enum": ["sv", "en"],
                "description": "Language of emails and the status page. Default sv.",
            },
        },
    }


def _error_schema() -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["errors"],
        "properties": {
            "errors": {
                "type": "object",
                "description": "Field path (e.g. `subject.email`, `details.scope`) to message.",
                "additionalProperties": {"type": "string"},
            }
        },
    }


def document(base_url: str) -> dict[str, Any]:
    """The OpenAPI document, with ``base_url`` as the server."""
    rights = [r.value for r in Right]
    details_by_right = {f"{r.value.title().replace('_', '')}Details": r for r in Right}
    timestamp = {"type": "string", "format": "date-time"}
    date = {"type": "string", "format": "date"}
    error_responses = {
        "401": {
            "description": "The bearer token is missing, unknown or revoked.",
            "headers": {"WWW-Authenticate": {"schema": {"type": "string"}}},
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Errors"}}},
        },
    }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "dsr: data subject requests",
            "version": API_VERSION,
            "description": (
                "For the controller's own trusted systems (an app, a support tool) to file "
                "GDPR data subject requests for people they have already authenticated, and "
                "to follow them. Authenticate with `Authorization: Bearer <token>`; an admin "
                "creates tokens with `flask --app app dsr create-api-token NAME`. Dates are "
                "calendar dates in Europe/Stockholm; instants are RFC 3339 in UTC."
            ),
        },
        "servers": [{"url": base_url}],
        "security": [{"bearer": []}],
        "paths": {
            "/api/v1/requests": {
                "post": {
                    "operationId": "fileRequest",
                    "summary": "File a request",
                    "description": (
                        "Files a request for the subject and emails them the acknowledgement. "
                        "Without `identity_verified_by` the subject must confirm their email "
                        "address by the link or code in that email, as on the web. "
                        "An open request for the same email address and right is not filed "
                        "twice: the answer is 409, with the existing reference when this "
                        "token filed it (so a retry after a lost answer finds its request), "
                        "and the subject is emailed about the existing request."
                    ),
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {
                                "schema": {"$ref": "#/components/schemas/NewRequest"}
                            }
                        },
                    },
                    "responses": {
                        "201": {
                            "description": "Filed.",
                            "headers": {
                                "Location": {
                                    "description": "Where to follow the request.",
                                    "schema": {"type": "string"},
                                }
                            },
                            "content": {
                                "application/json": {
                                    "schema": {"$ref": "#/components/schemas/Created"}
                                }
                            },
                        },
                        **error_responses,
                        "409": {
                            "description": (
                                "The subject already has an open request for this right."
                            ),
                            "content": {
                                "application/json": {
                                    "schema": {"$ref": "#/components/schemas/Duplicate"}
                                }
                            },
                        },
                        "422": {
                            "description": "The body is not valid; every problem is listed.",
                            "content": {
                                "application/json": {
                                    "schema": {"$ref": "#/components/schemas/Errors"}
                                }
                            },
                        },
                    },
                }
            },
            "/api/v1/requests/{reference}": {
                "get": {
                    "operationId": "getRequest",
                    "summary": "Follow a request this token filed",
                    "parameters": [
                        {
                            "name": "reference",
                            "in": "path",
                            "required": True,
                            "schema": {"type": "string", "pattern": "^DSR-[0-9]{4}-[0-9]{6}$"},
                            "example": "DSR-2026-000123",
                        }
                    ],
                    "responses": {
                        "200": {
                            "description": "The request's state, due dates and public history.",
                            "content": {
                                "application/json": {
                                    "schema": {"$ref": "#/components/schemas/RequestState"}
                                }
                            },
                        },
                        **error_responses,
                        "404": {
                            "description": (
                                "No request with this reference was filed with this token "
                                "(requests filed another way, or by another system, are not "
                                "shown)."
                            ),
                            "content": {
                                "application/json": {
                                    "schema": {"$ref": "#/components/schemas/Errors"}
                                }
                            },
                        },
                    },
                }
            },
            "/api/v1/openapi.json": {
                "get": {
                    "operationId": "openapi",
                    "summary": "This document",
                    "security": [],
                    "responses": {
                        "200": {
                            "description": "The OpenAPI document.",
                            "content": {"application/json": {"schema": {"type": "object"}}},
                        }
                    },
                }
            },
        },
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": {
                "NewRequest": {
                    "description": (
                        "One schema per right; `right` says which. Only `access` needs no details."
                    ),
                    "oneOf": [
                        {"$ref": f"#/components/schemas/{_request_name(right)}"} for right in Right
                    ],
                    "discriminator": {
                        "propertyName": "right",
                        "mapping": {
                            right.value: f"#/components/schemas/{_request_name(right)}"
                            for right in Right
                        },
                    },
                },
                **{
                    _request_name(right): _new_request_schema(right, details_name)
                    for details_name, right in details_by_right.items()
                },
                "Subject": {
                    "type": "object",
                    "required": ["email", "name"],
                    "additionalProperties": False,
                    "properties": {
                        "email": {"type": "string", "format": "email", "maxLength": 254},
                        "name": {"type": "string", "minLength": 1, "maxLength": 200},
                        "personnummer": {
                            "type": ["string", "null"],
                            "maxLength": 20,
                            "description": (
                                "Personnummer or samordningsnummer, 10 or 12 digits, "
                                "with or without - or +; checked (date and check digit)."
                            ),
                        },
                        "phone": {"type": ["string", "null"], "maxLength": 40},
                    },
                },
                **{name: _details_schema(right) for name, right in details_by_right.items()},
                "Created": {
                    "type": "object",
                    "required": [
                        "reference",
                        "status",
                        "right",
                        "received_at",
                        "due_at",
                        "due_date",
                        "status_url",
                    ],
                    "properties": {
                        "reference": {"type": "string", "pattern": "^DSR-[0-9]{4}-[0-9]{6}$"},
                        "status": {"type": "string", "enum": [s.value for s in RequestStatus]},
                        "right": {"type": "string", "enum": rights},
                        "received_at": timestamp,
                        "due_at": {
                            **timestamp,
                            "description": (
                                "When the legal period ends: 24:00 Europe/Stockholm on `due_date`."
                            ),
                        },
                        "due_date": {**date, "description": "The legal due date."},
                        "status_url": {
                            "type": "string",
                            "format": "uri",
                            "description": (
                                "The subject's private status page. Give it only to the subject."
                            ),
                        },
                    },
                },
                "Duplicate": {
                    "allOf": [{"$ref": "#/components/schemas/Errors"}],
                    "properties": {
                        "reference": {
                            "type": "string",
                            "description": "The open request, when this token filed it.",
                        }
                    },
                },
                "RequestState": {
                    "type": "object",
                    "required": [
                        "reference",
                        "status",
                        "right",
                        "channel",
                        "received_at",
                        "due_at",
                        "due_date",
                        "first_due_date",
                        "extended",
                        "verified",
                        "assurance",
                        "timeline",
                    ],
                    "properties": {
                        "reference": {"type": "string"},
                        "status": {"type": "string", "enum": [s.value for s in RequestStatus]},
                        "right": {"type": "string", "enum": rights},
                        "channel": {"type": "string", "enum": [c.value for c in Channel]},
                        "received_at": timestamp,
                        "due_at": timestamp,
                        "due_date": date,
                        "first_due_date": {
                            **date,
                            "description": "The legal due date before any extension or pause.",
                        },
                        "extended": {"type": "boolean"},
                        "verified": {"type": "boolean"},
                        "assurance": {
                            "type": "string",
                            "enum": [a.value for a in AssuranceLevel],
                        },
                        "timeline": {
                            "type": "array",
                            "items": {
                                "type": "object",
                                "required": ["at", "event", "description"],
                                "properties": {
                                    "at": timestamp,
                                    "event": {"type": "string"},
                                    "description": {"type": "string"},
                                },
                            },
                        },
                    },
                },
                "Errors": _error_schema(),
            },
        },
    }
