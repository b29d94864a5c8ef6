"""``/api/v1/me``, ``/api/v1/absences`` and ``/api/v1/tokens``: the caller, absences, tokens.

Absences: a supervisor, the board or an admin for anyone; an employee for
themselves. Only rows entered through the API can be deleted; those from the
configuration are replaced at every start from the file and are changed there.
Tokens through the API are the admin's (the ``ingest token`` commands do the same).
"""

# No `from __future__ import annotations`: FastAPI reads the routes' annotations at import time.

from typing import Annotated

from fastapi import APIRouter, Path, Query, Response

from ingest.api import tokens as api_tokens
from ingest.api.auth import Caller, Context, Principal, require_roles
from ingest.api.errors import ERROR_RESPONSES, ApiError
from ingest.api.schemas import KEY_PATTERN, MAX_ID, AbsenceIn, AbsenceOut, Me, NewTokenOut, TokenIn, TokenOut
from ingest.inquiries import audit
from storage import inquiry_repo, staff_repo
from storage.db import transaction
from storage.models import Absence, Employee
from storage.staff_models import ApiToken, Role

MANAGERS = (Role.SUPERVISOR, Role.BOARD, Role.ADMIN)


def _absence_out(row: Absence) -> AbsenceOut:
    assert row.id is not None
    return AbsenceOut(
        id=row.id,
        employee=row.employee_key,
        starts_on=row.starts_on,
        ends_on=row.ends_on,
        reason=row.reason,
        source=row.source,
    )


def _token_out(row: ApiToken) -> TokenOut:
    assert row.id is not None
    return TokenOut(
        id=row.id,
        employee=row.employee_key,
        name=row.name,
        created_at=row.created_at,
        last_used_at=row.last_used_at,
        revoked_at=row.revoked_at,
    )


def _may_manage_absences_of(principal: Principal, employee_key: str) -> None:
    if principal.role in MANAGERS or principal.key == employee_key:
        return
    raise ApiError(403, "forbidden", "an employee may enter and remove only their own absences")


router = APIRouter(prefix="/api/v1", responses=ERROR_RESPONSES)


@router.get("/me", response_model=Me, tags=["staff"], summary="Who the token belongs to, and the role")
def me(principal: Caller, ctx: Context) -> Me:
    with ctx.sessions() as session:
        employee = session.get(Employee, principal.employee_id)
    assert employee is not None
    return Me(
        key=employee.key, name=employee.name, surname=employee.surname, position=employee.position,
        email=employee.email, role=principal.role, token_id=principal.token_id,
    )  # fmt: skip


# -- absences ---------------------------------------------------------------------------


@router.get(
    "/absences", response_model=list[AbsenceOut], tags=["absences"], summary="Absences (an employee sees their own)"
)
def list_absences(
    principal: Caller, ctx: Context, employee: str | None = Query(default=None, max_length=64, pattern=KEY_PATTERN)
) -> list[AbsenceOut]:
    of_each = [] if principal.role in MANAGERS else [principal.key]
    if employee is not None:
        of_each.append(employee)
    with ctx.sessions() as session:
        return [_absence_out(row) for row in staff_repo.absences(session, of_each=of_each)]


@router.post("/absences", response_model=AbsenceOut, status_code=201, tags=["absences"], summary="Enter an absence")
def add_absence(principal: Caller, ctx: Context, body: AbsenceIn) -> AbsenceOut:
    _may_manage_absences_of(principal, body.employee)
    now = ctx.clock()
    with transaction(ctx.sessions) as session:
        if inquiry_repo.employee_by_key(session, key=body.employee) is None:
            raise ApiError(422, "unknown_employee", f"no employee {body.employee!r}")
        row = Absence(
            employee_key=body.employee, starts_on=body.starts_on, ends_on=body.ends_on, reason=body.reason,
            source="api", created_at=now,
        )  # fmt: skip
        session.add(row)
        session.flush()
        audit.record(session, principal=principal, action="absence.create", now=now,
                     detail={"absence_id": row.id, "employee": body.employee})  # fmt: skip
        return _absence_out(row)


@router.delete(
    "/absences/{absence_id}",
    status_code=204,
    response_class=Response,
    tags=["absences"],
    summary="Remove an absence entered through the API",
)
def delete_absence(principal: Caller, ctx: Context, absence_id: Annotated[int, Path(ge=1, le=MAX_ID)]) -> Response:
    now = ctx.clock()
    with transaction(ctx.sessions) as session:
        row = session.get(Absence, absence_id)
        if row is None or (principal.role not in MANAGERS and row.employee_key != principal.key):
            raise ApiError(404, "not_found", f"no absence {absence_id} that you may change")
        if row.source != "api":
            raise ApiError(409, "conflict", "this absence comes from the configuration; change it there")
        audit.record(session, principal=principal, action="absence.delete", now=now,
                     detail={"absence_id": absence_id, "employee": row.employee_key})  # fmt: skip
        session.delete(row)
    return Response(status_code=204)


# -- tokens (admin) ---------------------------------------------------------------------


@router.get("/tokens", response_model=list[TokenOut], tags=["tokens"], summary="All API tokens (admin)")
def list_tokens(principal: Caller, ctx: Context) -> list[TokenOut]:
    require_roles(principal, Role.ADMIN, what="manage tokens")
    with ctx.sessions() as session:
        return [_token_out(row) for row in api_tokens.list_tokens(session)]


@router.post(
    "/tokens",
    response_model=NewTokenOut,
    status_code=201,
    tags=["tokens"],
    summary="Create a token (admin); the secret is shown once",
)
def create_token(principal: Caller, ctx: Context, body: TokenIn) -> NewTokenOut:
    require_roles(principal, Role.ADMIN, what="manage tokens")
    now = ctx.clock()
    with transaction(ctx.sessions) as session:
        target = inquiry_repo.employee_by_key(session, key=body.employee)
        if target is not None and target.role != Role.ADMIN.value:
            # An administrator sees no inquiry content (clause 5.1.2); a token of someone who
            # does would hand it over. Those tokens are made on the server: `ingest token create`.
            raise ApiError(403, "forbidden", "through the API, tokens are created for administrators only")
        try:
            new = api_tokens.create_token(session, employee_key=body.employee, name=body.name, now=now)
        except api_tokens.TokenError as exc:
            raise ApiError(422, "unknown_employee", str(exc)) from None
        audit.record(session, principal=principal, action="token.create", now=now,
                     detail={"created_token_id": new.id, "employee": body.employee})  # fmt: skip
        row = session.get(ApiToken, new.id)
        assert row is not None
        return NewTokenOut(**_token_out(row).model_dump(), secret=new.secret)


@router.delete("/tokens/{token_id}", response_model=TokenOut, tags=["tokens"], summary="Revoke a token (admin)")
def revoke_token(principal: Caller, ctx: Context, token_id: Annotated[int, Path(ge=1, le=MAX_ID)]) -> TokenOut:
    require_roles(principal, Role.ADMIN, what="manage tokens")
    now = ctx.clock()
    with transaction(ctx.sessions) as session:
        try:
            row = api_tokens.revoke_token(session, token_id=token_id, now=now)
        except api_tokens.TokenError as exc:
            raise ApiError(404, "not_found", str(exc)) from None
        audit.record(
            session, principal=principal, action="token.revoke", now=now, detail={"revoked_token_id": token_id}
        )
        return _token_out(row)
