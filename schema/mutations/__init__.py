"""Root mutations, one module per domain. Each returns a payload ``{object, errors}``: expected
failures (bad input) are ``errors`` and change nothing; missing sign-in and acting on someone
else's things are top-level errors (UNAUTHENTICATED, FORBIDDEN)."""

from __future__ import annotations

from strawberry.tools import merge_types

from schema.mutations.accounts import AccountMutations
from schema.mutations.credentials import CredentialMutations
from schema.mutations.exports import ExportMutations
from schema.mutations.moderation import ModerationMutations
from schema.mutations.notifications import NotificationMutations
from schema.mutations.portfolio import PortfolioMutations
from schema.mutations.posts import PostMutations
from schema.mutations.provenance import ProvenanceMutations
from schema.mutations.reports import ReportMutations
from schema.mutations.safety import SafetyMutations
from schema.mutations.social import SocialMutations

Mutation = merge_types(
    "Mutation",
    (
        AccountMutations,
        PortfolioMutations,
        PostMutations,
        SocialMutations,
        ProvenanceMutations,
        SafetyMutations,
        ReportMutations,
        ModerationMutations,
        NotificationMutations,
        CredentialMutations,
        ExportMutations,
    ),
)

__all__ = ["Mutation"]
