"""``POST /api/v1/integration/hl7``: an HL7 v2 message (ER7, the pipe-delimited form) as the body,
sent by a system with an API key (``Authorization: Bearer msk_…`` or ``X-API-Key``); the answer is
the acknowledgement as ``text/plain``. The same pipeline as MLLP (``receive``), with the key's
``hl7:<type>`` scopes in place of the MLLP allow-list. HTTP status 200 carries every ACK, AA or
not (the ACK says what happened, as on MLLP); 401 without a valid key, 413 over the size limit, 415
for another content type.
"""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from ninja import Router

from medoa.core.access.api_auth import SystemKeyAuth, request_system_key
from medoa.core.context import client_address_of

from .framing import max_frame_bytes
from .models import Transport
from .receive import prepare, store

router = Router(tags=["integration"])

CONTENT_TYPES = frozenset(
    {"text/plain", "application/hl7-v2", "application/hl7-v2+er7", "x-application/hl7-v2+er7"}
)


@router.post(
    "/hl7",
    auth=SystemKeyAuth(),
    summary="Receive an HL7 v2 message (ER7) and answer its acknowledgement",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {t: {"schema": {"type": "string"}} for t in ("application/hl7-v2", "text/plain")},
        },
        "responses": {
            "200": {
                "description": "The ACK (ER7)",
                "content": {"text/plain": {"schema": {"type": "string"}}},
            },
            "413": {"description": "The body is larger than MEDOA_HL7_MAX_FRAME_MB"},
            "415": {"description": "Not text/plain or application/hl7-v2"},
        },
    },
)
def hl7_receive(request: HttpRequest) -> HttpResponse:
    if (request.content_type or "").lower() not in CONTENT_TYPES:
        return HttpResponse(
            "send the message as text/plain or application/hl7-v2\n", status=415, content_type="text/plain"
        )
    limit = max_frame_bytes()
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        declared = 0
    if declared > limit:
        return HttpResponse(
            f"the message is larger than {limit} bytes\n", status=413, content_type="text/plain"
        )
    data = request.read(limit + 1)
    if len(data) > limit:
        return HttpResponse(
            f"the message is larger than {limit} bytes\n", status=413, content_type="text/plain"
        )
    incoming = prepare(
        data,
        transport=Transport.HTTP,
        peer=client_address_of(request) or "",
        api_key=request_system_key(request),
    )
    store([incoming])
    return HttpResponse(incoming.answer, content_type=f"text/plain; charset={incoming.charset or 'utf-8'}")
