from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from ninja import Field, Schema
from pydantic.json_schema import JsonDict

from config.schemas import INT32, NOT_BLANK, In, Moment
from memory import proposals, services
from memory.models import Block, BlockVersion, Passage, Proposal
from memory.services import version_diff

# A label has something besides spaces (config/schemas.py).
LABEL: JsonDict = {
    "minLength": 1,
    "pattern": NOT_BLANK,
}


class BlockIn(In):
    label: str = Field(json_schema_extra=LABEL)
    value: str = ""
    limit: int | None = Field(None, ge=1, le=INT32)
    description: str | None = None
    read_only: bool = False
    metadata: dict[str, Any] | None = None
    is_template: bool = False
    name: str | None = Field(None, description="Template name (Letta's `name`).")
    template_name: str | None = None
    # Reverie: what an agent's edit does (`read_only` true is the policy `read_only`),
    # and the share of the block one agent run may remove.
    policy: Literal["auto", "review", "read_only"] | None = None
    deletion_budget: float | None = Field(None, ge=0, le=1)

    def policy_fields(self) -> dict[str, bool]:
        if self.policy is None:
            return {"read_only": self.read_only}
        return services.policy_fields(self.policy)


class BlockUpdateIn(In):
    label: str | None = Field(None, json_schema_extra=LABEL)
    value: str | None = None
    limit: int | None = Field(None, ge=1, le=INT32)
    description: str | None = None
    read_only: bool | None = None
    metadata: dict[str, Any] | None = None
    is_template: bool | None = None
    template_name: str | None = None
    # Reverie: the block version the new value was written against. When the block has
    # moved on since, the change is merged with what happened meanwhile on other lines; a
    # change of the same lines is a 409 with the current value and version.
    base_version: int | None = Field(None, ge=1, le=INT32)
    policy: Literal["auto", "review", "read_only"] | None = None
    deletion_budget: float | None = Field(None, ge=0, le=1)

    def changes(self) -> dict[str, Any]:
        changes = self.model_dump(
            exclude_unset=True, exclude_none=True, exclude={"base_version", "policy"}
        )
        return {**changes, **services.policy_fields(self.policy)}


class BlockOut(Schema):
    id: str
    label: str
    value: str
    limit: int
    description: str | None
    read_only: bool
    metadata: dict[str, Any]
    is_template: bool
    name: str | None
    template_name: str | None
    version: int
    policy: str
    deletion_budget: float
    created_at: datetime
    updated_at: datetime

    # Letta says null where Reverie stores "", and calls the template's name `name` too.
    @staticmethod
    def resolve_description(block: Block) -> str | None:
        return block.description or None

    @staticmethod
    def resolve_name(block: Block) -> str | None:
        return block.template_name or None

    @staticmethod
    def resolve_template_name(block: Block) -> str | None:
        return block.template_name or None


class PassageIn(In):
    text: str = Field(json_schema_extra=LABEL)
    tags: list[str] | None = None
    created_at: Moment | None = None


class PassageOut(Schema):
    id: str
    text: str
    agent_id: str | None
    tags: list[str]
    metadata: dict[str, Any]
    embedding_config: dict[str, Any] | None
    created_at: datetime
    updated_at: datetime

    @staticmethod
    def resolve_embedding_config(passage: Passage) -> dict[str, Any]:
        return {"handle": passage.embedding_handle}


class SearchResultOut(Schema):
    id: str
    content: str
    timestamp: str
    tags: list[str]


class SearchOut(Schema):
    results: list[SearchResultOut]
    count: int


class MessageOut(Schema):
    message: str


class BlockVersionOut(Schema):
    version: int
    block_id: str
    label: str
    value: str
    previous_value: str
    limit: int
    description: str | None
    actor_type: str
    actor_id: str | None
    run_id: str | None
    tool_call_id: str | None
    reverts: str | None
    created_at: datetime
    diff: str

    @staticmethod
    def resolve_version(version: BlockVersion) -> int:
        return version.number

    @staticmethod
    def resolve_description(version: BlockVersion) -> str | None:
        return version.description or None

    @staticmethod
    def resolve_actor_id(version: BlockVersion) -> str | None:
        if version.actor_type == "user":
            return f"user-{version.actor_user_id}" if version.actor_user_id else None
        return version.actor_agent_id or None

    @staticmethod
    def resolve_run_id(version: BlockVersion) -> str | None:
        return version.run_id or None

    @staticmethod
    def resolve_tool_call_id(version: BlockVersion) -> str | None:
        return version.tool_call_id or None

    @staticmethod
    def resolve_reverts(version: BlockVersion) -> str | None:
        return version.reverts or None

    @staticmethod
    def resolve_diff(version: BlockVersion) -> str:
        return version_diff(version)


class BlockRevertIn(In):
    version: int


class HunkOut(Schema):
    index: int
    line: int
    removed: list[str]
    added: list[str]
    status: str


class ProposalOut(Schema):
    id: str
    block_id: str
    label: str
    agent_id: str
    actor_agent_id: str | None
    run_id: str | None
    status: str
    reasons: list[str]
    base_version: int
    base_value: str
    proposed_value: str
    hunks: list[HunkOut]
    # The block changed since on the lines the undecided hunks change.
    conflict: bool
    current_version: int
    reviewed_by: str | None
    reviewed_at: datetime | None
    applied_versions: list[int]
    created_at: datetime

    @staticmethod
    def resolve_hunks(proposal: Proposal) -> list[proposals.Hunk]:
        return proposals.hunks(proposal)

    @staticmethod
    def resolve_conflict(proposal: Proposal) -> bool:
        return proposals.conflicting(proposal)

    @staticmethod
    def resolve_current_version(proposal: Proposal) -> int:
        return proposal.block.version

    @staticmethod
    def resolve_actor_agent_id(proposal: Proposal) -> str | None:
        return proposal.actor_agent_id or None

    @staticmethod
    def resolve_run_id(proposal: Proposal) -> str | None:
        return proposal.run_id or None

    @staticmethod
    def resolve_reviewed_by(proposal: Proposal) -> str | None:
        return proposal.reviewed_by.get_username() if proposal.reviewed_by else None


class ReviewIn(In):
    # Indices of the hunks to decide; left out: every hunk still pending.
    hunks: list[int] | None = None
