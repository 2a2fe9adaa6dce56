"""Who may run each mutation of community safety, by role: anonymous, a member, a moderator and
an admin (roles granted as ``gesso admin grant`` grants them), with the exact outcome and its
side effect (or, when refused, an unchanged database). The worlds and specs are those of
``test_authorization``; its own matrix holds these mutations for its roles too."""

from __future__ import annotations

import pytest

from resolvers import moderation
from storage.models import Role
from tests.graphql import GraphQLClient, database_state
from tests.schema.test_authorization import (
    FORBIDDEN,
    OK,
    SPECS,
    UNAUTHENTICATED,
    Ok,
    Outcome,
    assert_refused,
    build_world,
    fast_password_hashing,  # noqa: F401  (an autouse fixture of its module, used here too)
)

ROLES = ("anonymous", "member", "moderator", "admin")
ACTOR = {"anonymous": None, "member": "otto", "moderator": "mavis", "admin": "adele"}

MATRIX: list[tuple[str, Outcome, Outcome, Outcome, Outcome]] = [
    # mutation          anonymous        member     moderator  admin
    ("blockUser", UNAUTHENTICATED, OK, OK, OK),
    ("unblockUser", UNAUTHENTICATED, OK, OK, OK),
    ("muteUser", UNAUTHENTICATED, OK, OK, OK),
    ("unmuteUser", UNAUTHENTICATED, OK, OK, OK),
    ("updateSettings", UNAUTHENTICATED, OK, OK, OK),
    ("report", UNAUTHENTICATED, OK, OK, OK),
    ("resolveReport", UNAUTHENTICATED, FORBIDDEN, OK, OK),
    ("unsuspendUser", UNAUTHENTICATED, FORBIDDEN, OK, OK),
    ("setAiGenerated", UNAUTHENTICATED, FORBIDDEN, OK, OK),
]

# what an "un" mutation undoes, so that the actor has something to undo
UNDOES = {"unblockUser": "blockUser", "unmuteUser": "muteUser"}

CASES = [
    pytest.param(name, role, outcome, id=f"{name}-{role}-{outcome}")
    for name, *outcomes in MATRIX
    for role, outcome in zip(ROLES, outcomes, strict=True)
]


@pytest.mark.parametrize(("name", "role", "outcome"), CASES)
async def test_safety_mutation_authorization(
    gql: GraphQLClient, name: str, role: str, outcome: Outcome
) -> None:
    # given olga's things, otto and tess, and a moderator and an admin
    world = await build_world(gql)
    for handle, granted in (("mavis", Role.MODERATOR), ("adele", Role.ADMIN)):
        await gql.sign_up(handle, "correct horse")
        await moderation.set_role(handle, granted, granted=True)
    spec = SPECS[name]
    if spec.prepare is not None:
        await spec.prepare(world)
    undone = UNDOES.get(name)
    if undone is not None and ACTOR[role] is not None:  # the actor blocked or muted first
        first = SPECS[undone]
        done = await gql.execute(first.document, first.variables(world), as_=ACTOR[role])
        assert done.data[undone]["errors"] == [], done.body
    before_probe = await spec.probe()
    before = await database_state()
    # when the actor of this role runs the mutation
    variables = spec.variables(world)
    if spec.late_variables is not None:
        variables |= await spec.late_variables()
    result = await gql.execute(spec.document, variables, as_=ACTOR[role])
    # then the outcome is exactly the expected one, and so is its effect
    assert result.status == 200, result.body
    if isinstance(outcome, Ok):
        assert result.data[name]["errors"] == []
        assert await spec.probe() != before_probe
        return
    assert_refused(result, name, outcome)
    assert await database_state() == before
