"""Printed cards: issued at a service counter (role counter), and reported lost by the holder or a counter.

`POST /v1/counter/cards` answers the print-ready A6 PDF itself, with the card number in
`X-Card-Number`; the person's earlier card is replaced and withdrawn in the same step. Staff name
the person by registry subject (they have checked an ID card at the desk); the citizen routes
learn the subject from the token, as every citizen route does.
"""

from __future__ import annotations

import time
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Response
from pydantic import BaseModel, Field

from app.api.deps import ERROR_RESPONSES, ApiError, Citizen, Counter, ServicesDep, limit
from app.api.services import NoActiveKey
from app.card_print import CardFace, CardPrintError, card_pdf, find_font
from app.cards import (
    Card,
    CardError,
    NoCardForPerson,
    UnknownCard,
    cards_of,
    issue_card,
    parse_card_number,
    report_lost,
)

router = APIRouter(prefix="/v1", responses=ERROR_RESPONSES)
CardNumber = Annotated[
    str, Path(min_length=1, max_length=24, examples=["348299110457"], description="The card number (SC and 12 digits).")
]


class CardRequest(BaseModel):
    subject: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9-]+$", examples=["P00000001"])
    initial: str = Field(min_length=1, max_length=8, examples=["王"], description="One letter or character.")
    years: Literal[1, 2] = 1


def _card_error(exc: CardError) -> ApiError:
    if isinstance(exc, UnknownCard):
        return ApiError(404, "no_such_card", str(exc))
    if isinstance(exc, NoCardForPerson):
        return ApiError(422, "no_entitlement", str(exc))
    return ApiError(422, "invalid_card_request", str(exc))


def card_json(card: Card) -> dict[str, Any]:
    return {"number": card.number, "label": card.label, "status": card.status,
            "valid_until": card.expiry_date().isoformat()}  # fmt: skip


@router.post(
    "/counter/cards", tags=["counter"], summary="Issue a printed card for a person (A6 PDF); replaces their old card",
    responses={200: {"content": {"application/pdf": {}}, "description": "The card, print-ready; X-Card-Number"}},
)  # fmt: skip
def counter_issue(body: CardRequest, principal: Counter, svc: ServicesDep) -> Response:
    limit(svc, "device", principal.id, svc.settings.codes_per_minute)
    try:
        find_font()  # before anything is stored: a card that cannot be printed is not issued
        issuer = svc.signing_issuer()
        issued = issue_card(
            svc.engine, issuer, body.subject, svc.pseudonym, now=int(time.time()), initial=body.initial,
            years=body.years, actor=f"device:{principal.id}",
        )  # fmt: skip
        card = issued.card
        pdf = card_pdf(CardFace(issued.text, card.label, card.initial, card.expiry_date()))
    except CardError as exc:
        raise _card_error(exc) from None
    except NoActiveKey as exc:
        raise ApiError(503, "no_signing_key", str(exc), {"Retry-After": "60"}) from None
    except CardPrintError as exc:
        raise ApiError(503, "cannot_print", str(exc)) from None
    if issued.revocation_version is not None:
        svc.revoked(issued.revocation_version)  # this process's verifier holds it now; the others are told
    svc.metrics.issued.labels("card").inc()
    headers = {
        "X-Card-Number": str(card.number),
        "X-Card-Replaced": ",".join(str(c.number) for c in issued.replaced),
        "Content-Disposition": f'attachment; filename="card-{card.number}.pdf"',
        "Cache-Control": "no-store",
    }
    return Response(pdf, media_type="application/pdf", headers=headers)


@router.post("/counter/cards/{number}/lost", tags=["counter"], summary="Report a card lost at a counter")
def counter_lost(number: CardNumber, principal: Counter, svc: ServicesDep) -> dict[str, Any]:
    try:
        ended = report_lost(svc.engine, number=parse_card_number(number), now=int(time.time()),
                            actor=f"device:{principal.id}")  # fmt: skip
    except CardError as exc:
        raise _card_error(exc) from None
    if ended.revocation_version is not None:
        svc.revoked(ended.revocation_version)
    return card_json(ended.card)


@router.get("/me/cards", tags=["citizen"], summary="The caller's printed cards")
def my_cards(principal: Citizen, svc: ServicesDep) -> dict[str, Any]:
    return {"cards": [card_json(c) for c in cards_of(svc.engine, principal.id)]}


@router.post("/me/cards/lost", tags=["citizen"], summary="Report the caller's printed card lost")
def my_card_lost(principal: Citizen, svc: ServicesDep) -> dict[str, Any]:
    limit(svc, "account", principal.id, svc.settings.codes_per_minute)
    try:
        ended = report_lost(svc.engine, subject=principal.id, now=int(time.time()), actor="citizen")
    except CardError as exc:
        raise _card_error(exc) from None
    if ended.revocation_version is not None:
        svc.revoked(ended.revocation_version)
    return card_json(ended.card)
