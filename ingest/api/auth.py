"""Who is calling: ``Authorization: Bearer gk_...`` to an employee and their role.

401 without a token, or with one that is unknown, revoked, or whose employee
is no longer active; 403 is for roles (see :func:`require_roles`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import update
from sqlmodel import col

from ingest.api import tokens as api_tokens
from ingest.api.context import ApiContext
from ingest.api.errors import ApiError
from storage.db import transaction
from storage.staff_models import ApiToken, Role

# last_used_at is written at most this often per token: a busy client must not turn every read
# into a write (SQLite takes one writer at a time).
LAST_USED_GRANULARITY = timedelta(minutes=1)

_bearer = HTTPBearer(auto_error=False, description="An API token: `ingest token create EMPLOYEE`")


@dataclass(frozen=True)
class Principal:
    employee_id: int
    key: str
    role: Role
    token_id: int
    remote_addr: str | None

    def has(self, *roles: Role) -> bool:
        return self.role in roles


def _unauthorized(message: str) -> ApiError:
    return ApiError(401, "unauthorized", message, headers={"WWW-Authenticate": "Bearer"})


def api_context(request: Request) -> ApiContext:
    """The running service's context, which the service put on its app (``app.state``)."""
    ctx = getattr(request.app.state, "api_context", None)
    if not isinstance(ctx, ApiContext):
        raise RuntimeError("the staff API is mounted on an app without an api_context")
    return ctx


Context = Annotated[ApiContext, Depends(api_context)]


def current_principal(
    request: Request,
    ctx: Context,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    """The bearer token resolved to a :class:`Principal`; 401 otherwise."""
    if credentials is None or credentials.scheme.lower() != "bearer" or not credentials.credentials:
        raise _unauthorized("an API token is needed: Authorization: Bearer <token>")
    now = ctx.clock()
    # A read: on SQLite it must not queue behind the writers.
    with ctx.sessions() as session:
        found = api_tokens.lookup(session, secret=credentials.credentials.strip())
    if found is None:
        raise _unauthorized("the token is unknown, revoked, or its employee is not active")
    token, employee = found
    assert token.id is not None and employee.id is not None
    if token.last_used_at is None or now - token.last_used_at >= LAST_USED_GRANULARITY:
        with transaction(ctx.sessions) as session:
            session.execute(update(ApiToken).where(col(ApiToken.id) == token.id).values(last_used_at=now))
    try:
        role = Role(employee.role)
    except ValueError:
        role = Role.EMPLOYEE  # an unknown value in the database grants the least
    return Principal(
        employee_id=employee.id,
        key=employee.key,
        role=role,
        token_id=token.id,
        remote_addr=request.client.host if request.client else None,
    )


Caller = Annotated[Principal, Depends(current_principal)]


def require_roles(principal: Principal, *roles: Role, what: str) -> None:
    if principal.role not in roles:
        raise ApiError(403, "forbidden", f"the role {principal.role.value!r} may not {what}")


# Everyone who may see inquiry content; the admin may not (policy clause 5.1.2).
INQUIRY_ROLES = (Role.EMPLOYEE, Role.SUPERVISOR, Role.BOARD)
