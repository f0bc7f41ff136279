"""The group coordinator: Kafka's classic group protocol for any protocol type.

Works for consumers (``consumer``), Connect workers (``connect``) and anything else: member
metadata and assignments are opaque bytes. Everything runs on the event-loop thread; waits
(JoinGroup until the rebalance completes, SyncGroup until the leader assigns) are futures, and
session / rebalance timeouts are loop timers.

State machine (as in Kafka's GroupCoordinator):
Empty -> PreparingRebalance (a member joins) -> CompletingRebalance (every member rejoined or the
rebalance timeout expired; generation+1, leader chosen) -> Stable (the leader's SyncGroup brought
the assignments) -> PreparingRebalance again when a member joins, changes its metadata, leaves or
misses its session timeout.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any, Protocol

from kio.schema.errors import ErrorCode

from broker.groups.state import Group, GroupState, Member, OffsetAndMetadata

log = logging.getLogger("broker.groups")


class GroupStore(Protocol):
    """Durable record of offsets and group metadata (the ``__consumer_offsets`` topic)."""

    def append_offsets(
        self, group_id: str, offsets: dict[tuple[str, int], OffsetAndMetadata]
    ) -> Awaitable[None] | None: ...

    def append_group(self, group: Group) -> Awaitable[None] | None: ...

    def delete_group(self, group: Group) -> Awaitable[None] | None: ...


@dataclass
class CoordinatorConfig:
    min_session_timeout_ms: int = 6000
    max_session_timeout_ms: int = 1_800_000
    initial_rebalance_delay_ms: int = 0
    max_metadata_size: int = 1024 * 1024


class GroupCoordinator:
    """All groups of this broker. Methods are called on the loop thread by the API handlers."""

    def __init__(
        self,
        config: CoordinatorConfig,
        store: GroupStore | None = None,
        topic_exists: Callable[[str, int], bool] | None = None,
    ) -> None:
        self.config = config
        self.store = store
        self.groups: dict[str, Group] = {}
        self._topic_exists = topic_exists

    # -- helpers -------------------------------------------------------------------------------

    @staticmethod
    def _loop() -> asyncio.AbstractEventLoop:
        return asyncio.get_running_loop()

    def group(self, group_id: str, create: bool = False) -> Group | None:
        g = self.groups.get(group_id)
        if g is None and create:
            g = self.groups[group_id] = Group(group_id)
        return g

    def _schedule_expiry(self, group: Group, member: Member) -> None:
        if member.expiry is not None:
            member.expiry.cancel()
        member.expiry = self._loop().call_later(member.session_timeout_ms / 1000, self._expire, group, member)

    def _expire(self, group: Group, member: Member) -> None:
        if group.members.get(member.member_id) is not member:
            return
        if member.join_future is not None and not member.join_future.done():
            return  # awaiting a join: the rebalance timeout governs it
        log.info(
            "group %s: member %s session timed out after %d ms; removing it",
            group.group_id,
            member.member_id,
            member.session_timeout_ms,
        )
        self._remove_member(group, member, "session timeout")

    def _expire_pending(self, group: Group, member_id: str) -> None:
        if group.pending_members.pop(member_id, None) is not None:
            self._try_complete_join(group)

    def _remove_member(self, group: Group, member: Member, reason: str) -> None:
        group.members.pop(member.member_id, None)
        if member.group_instance_id is not None and group.static_members.get(member.group_instance_id) == (
            member.member_id
        ):
            del group.static_members[member.group_instance_id]
        if member.expiry is not None:
            member.expiry.cancel()
        for fut in (member.join_future, member.sync_future):
            if fut is not None and not fut.done():
                fut.set_result({"error_code": ErrorCode.unknown_member_id})
        if group.leader_id == member.member_id:
            group.leader_id = next(iter(group.members), None)
        if group.state in (GroupState.STABLE, GroupState.COMPLETING_REBALANCE):
            self._prepare_rebalance(group, f"member {member.member_id} left ({reason})")
        elif group.state == GroupState.PREPARING_REBALANCE:
            self._try_complete_join(group)

    def _prepare_rebalance(self, group: Group, reason: str) -> None:
        if group.state == GroupState.COMPLETING_REBALANCE:
            for m in group.members.values():  # members waiting in SyncGroup must rejoin
                if m.sync_future is not None and not m.sync_future.done():
                    m.sync_future.set_result({"error_code": ErrorCode.rebalance_in_progress})
        if group.rebalance_timer is not None:
            group.rebalance_timer.cancel()
        was_empty = group.state == GroupState.EMPTY
        group.state = GroupState.PREPARING_REBALANCE
        timeout_ms = max((m.rebalance_timeout_ms for m in group.members.values()), default=0)
        if was_empty:
            timeout_ms = min(self.config.initial_rebalance_delay_ms, timeout_ms)
        log.info(
            "group %s: preparing rebalance (generation %d): %s", group.group_id, group.generation_id, reason
        )
        group.rebalance_timer = self._loop().call_later(timeout_ms / 1000, self._rebalance_deadline, group)
        if not was_empty or timeout_ms == 0:
            self._try_complete_join(group)

    def _rebalance_deadline(self, group: Group) -> None:
        group.rebalance_timer = None
        if group.state != GroupState.PREPARING_REBALANCE:
            return
        for m in list(group.members.values()):
            if m.join_future is None or m.join_future.done():
                log.info(
                    "group %s: member %s did not rejoin within the rebalance timeout",
                    group.group_id,
                    m.member_id,
                )
                group.members.pop(m.member_id, None)
                if m.expiry is not None:
                    m.expiry.cancel()
                if group.leader_id == m.member_id:
                    group.leader_id = None
        self._complete_join(group)

    def _try_complete_join(self, group: Group) -> None:
        """Complete the join phase once every member has rejoined and no new member is half-way in."""
        if group.state != GroupState.PREPARING_REBALANCE or group.pending_members:
            return
        if all(m.join_future is not None and not m.join_future.done() for m in group.members.values()):
            self._complete_join(group)

    def _complete_join(self, group: Group) -> None:
        if group.rebalance_timer is not None:
            group.rebalance_timer.cancel()
            group.rebalance_timer = None
        group.generation_id += 1
        if not group.members:
            group.state = GroupState.EMPTY
            group.protocol_name = None
            group.leader_id = None
            log.info("group %s: generation %d is empty", group.group_id, group.generation_id)
            self._persist_group(group)
            return
        group.state = GroupState.COMPLETING_REBALANCE
        group.protocol_name = group.select_protocol()
        if group.leader_id not in group.members:
            group.leader_id = next(iter(group.members))
        log.info(
            "group %s: generation %d with %d member(s), protocol %s, leader %s",
            group.group_id,
            group.generation_id,
            len(group.members),
            group.protocol_name,
            group.leader_id,
        )
        members = [
            {
                "member_id": m.member_id,
                "group_instance_id": m.group_instance_id,
                "metadata": m.metadata_for(group.protocol_name),
            }
            for m in group.members.values()
        ]
        for m in group.members.values():
            resp = {
                "error_code": ErrorCode.none,
                "generation_id": group.generation_id,
                "protocol_type": group.protocol_type,
                "protocol_name": group.protocol_name,
                "leader": group.leader_id,
                "member_id": m.member_id,
                "members": members if m.member_id == group.leader_id else [],
                "skip_assignment": False,
            }
            if m.join_future is not None and not m.join_future.done():
                m.join_future.set_result(resp)
            m.join_future = None
            self._schedule_expiry(group, m)

    def _persist_group(self, group: Group) -> None:
        if self.store is not None:
            self.store.append_group(group)

    # -- JoinGroup / SyncGroup / Heartbeat / LeaveGroup ----------------------------------------

    async def join(
        self,
        group_id: str,
        member_id: str,
        group_instance_id: str | None,
        client_id: str,
        client_host: str,
        session_timeout_ms: int,
        rebalance_timeout_ms: int,
        protocol_type: str,
        protocols: list[tuple[str, bytes]],
        require_known_member_id: bool,
    ) -> dict[str, Any]:
        """JoinGroup: returns the response fields (``error_code``, ``generation_id``, ``members`` ...)."""
        if not group_id:
            return {"error_code": ErrorCode.invalid_group_id, "member_id": member_id}
        if not self.config.min_session_timeout_ms <= session_timeout_ms <= self.config.max_session_timeout_ms:
            return {"error_code": ErrorCode.invalid_session_timeout, "member_id": member_id}
        group = self.group(group_id, create=True)
        assert group is not None
        if group.state == GroupState.DEAD:
            group = self.groups[group_id] = Group(group_id)
        if not group.supports(protocol_type, protocols):
            return {"error_code": ErrorCode.inconsistent_group_protocol, "member_id": member_id}
        if rebalance_timeout_ms < 0:
            rebalance_timeout_ms = session_timeout_ms
        new_static = False
        if group_instance_id is not None:
            known = group.static_members.get(group_instance_id)
            if member_id and known is not None and known != member_id:
                return {"error_code": ErrorCode.fenced_instance_id, "member_id": member_id}
            if not member_id:
                member_id = f"{group_instance_id}-{uuid.uuid4()}"
                if known is not None and known in group.members:
                    return await self._replace_static_member(
                        group,
                        group.members[known],
                        member_id,
                        client_id,
                        client_host,
                        session_timeout_ms,
                        rebalance_timeout_ms,
                        protocols,
                    )
                group.static_members[group_instance_id] = member_id
                new_static = True
        if new_static:
            pass  # a new static member needs no MEMBER_ID_REQUIRED round trip (KIP-345)
        elif not member_id:
            new_id = f"{client_id or 'member'}-{uuid.uuid4()}"
            if require_known_member_id:
                handle = self._loop().call_later(
                    session_timeout_ms / 1000, self._expire_pending, group, new_id
                )
                group.pending_members[new_id] = handle
                return {"error_code": ErrorCode.member_id_required, "member_id": new_id}
            member_id = new_id
        elif member_id in group.pending_members:
            group.pending_members.pop(member_id).cancel()
        elif member_id not in group.members:
            return {"error_code": ErrorCode.unknown_member_id, "member_id": member_id}

        member = group.members.get(member_id)
        fut: asyncio.Future[dict[str, Any]] = self._loop().create_future()
        if member is None:
            member = Member(
                member_id,
                group_instance_id,
                client_id,
                client_host,
                session_timeout_ms,
                rebalance_timeout_ms,
                protocol_type,
                protocols,
            )
            group.members[member_id] = member
            if group.protocol_type is None or len(group.members) == 1:
                group.protocol_type = protocol_type
            member.join_future = fut
            self._prepare_or_complete(group, f"member {member_id} joined")
        else:
            changed = member.protocols != protocols
            member.protocols = protocols
            member.session_timeout_ms = session_timeout_ms
            member.rebalance_timeout_ms = rebalance_timeout_ms
            if member.join_future is not None and not member.join_future.done():
                member.join_future.set_result(
                    {"error_code": ErrorCode.rebalance_in_progress, "member_id": member_id}
                )
            member.join_future = fut
            if (
                group.state in (GroupState.STABLE, GroupState.COMPLETING_REBALANCE)
                and not changed
                and member_id != group.leader_id
            ):
                member.join_future = None
                self._schedule_expiry(group, member)
                members: list[dict[str, Any]] = []
                return {
                    "error_code": ErrorCode.none,
                    "generation_id": group.generation_id,
                    "protocol_type": group.protocol_type,
                    "protocol_name": group.protocol_name,
                    "leader": group.leader_id,
                    "member_id": member_id,
                    "members": members,
                }
            self._prepare_or_complete(group, f"member {member_id} rejoined")
        return await fut

    async def _replace_static_member(
        self,
        group: Group,
        old: Member,
        new_id: str,
        client_id: str,
        client_host: str,
        session_timeout_ms: int,
        rebalance_timeout_ms: int,
        protocols: list[tuple[str, bytes]],
    ) -> dict[str, Any]:
        """KIP-345: a restarted static member takes the place (and assignment) of its predecessor,
        without a rebalance when the group is stable and its subscription is unchanged."""
        old_id = old.member_id
        for pending in (old.join_future, old.sync_future):
            if pending is not None and not pending.done():
                pending.set_result({"error_code": ErrorCode.fenced_instance_id, "member_id": old_id})
        old.join_future = old.sync_future = None
        del group.members[old_id]
        changed = old.protocols != protocols
        old.member_id, old.client_id, old.client_host = new_id, client_id, client_host
        old.session_timeout_ms, old.rebalance_timeout_ms, old.protocols = (
            session_timeout_ms,
            rebalance_timeout_ms,
            protocols,
        )
        group.members[new_id] = old
        assert old.group_instance_id is not None
        group.static_members[old.group_instance_id] = new_id
        was_leader = group.leader_id == old_id
        if was_leader:
            group.leader_id = new_id
        log.info(
            "group %s: static member %s replaced %s by %s",
            group.group_id,
            old.group_instance_id,
            old_id,
            new_id,
        )
        if group.state == GroupState.STABLE and not changed and not was_leader:
            self._schedule_expiry(group, old)
            self._persist_group(group)
            return {
                "error_code": ErrorCode.none,
                "generation_id": group.generation_id,
                "protocol_type": group.protocol_type,
                "protocol_name": group.protocol_name,
                "leader": group.leader_id,
                "member_id": new_id,
                "members": [],
            }
        fut: asyncio.Future[dict[str, Any]] = self._loop().create_future()
        old.join_future = fut
        self._prepare_or_complete(group, f"static member {old.group_instance_id} rejoined")
        return await fut

    def _fenced(self, group: Group, member_id: str, group_instance_id: str | None) -> bool:
        return (
            group_instance_id is not None
            and group.static_members.get(group_instance_id, member_id) != member_id
        )

    def _prepare_or_complete(self, group: Group, reason: str) -> None:
        if group.state == GroupState.PREPARING_REBALANCE:
            self._try_complete_join(group)
        else:
            self._prepare_rebalance(group, reason)

    async def sync(
        self,
        group_id: str,
        generation_id: int,
        member_id: str,
        protocol_type: str | None,
        protocol_name: str | None,
        assignments: dict[str, bytes],
        group_instance_id: str | None = None,
    ) -> dict[str, Any]:
        group = self.groups.get(group_id)
        if group is not None and self._fenced(group, member_id, group_instance_id):
            return {"error_code": ErrorCode.fenced_instance_id}
        if group is None or member_id not in group.members:
            return {"error_code": ErrorCode.unknown_member_id}
        if generation_id != group.generation_id:
            return {"error_code": ErrorCode.illegal_generation}
        if (protocol_type is not None and protocol_type != group.protocol_type) or (
            protocol_name is not None and protocol_name != group.protocol_name
        ):
            return {"error_code": ErrorCode.inconsistent_group_protocol}
        member = group.members[member_id]
        self._schedule_expiry(group, member)
        ok = {
            "error_code": ErrorCode.none,
            "protocol_type": group.protocol_type,
            "protocol_name": group.protocol_name,
        }
        if group.state == GroupState.PREPARING_REBALANCE:
            return {"error_code": ErrorCode.rebalance_in_progress}
        if group.state == GroupState.STABLE:
            return {**ok, "assignment": member.assignment}
        # CompletingRebalance
        fut: asyncio.Future[dict[str, Any]] = self._loop().create_future()
        member.sync_future = fut
        if member_id == group.leader_id:
            for mid, m in group.members.items():
                m.assignment = assignments.get(mid, b"")
            group.state = GroupState.STABLE
            self._persist_group(group)
            for m in group.members.values():
                if m.sync_future is not None and not m.sync_future.done():
                    m.sync_future.set_result({**ok, "assignment": m.assignment})
                m.sync_future = None
        return await fut

    def heartbeat(
        self, group_id: str, generation_id: int, member_id: str, group_instance_id: str | None = None
    ) -> ErrorCode:
        group = self.groups.get(group_id)
        if group is not None and self._fenced(group, member_id, group_instance_id):
            return ErrorCode.fenced_instance_id
        if group is None or member_id not in group.members:
            return ErrorCode.unknown_member_id
        member = group.members[member_id]
        if generation_id != group.generation_id:
            return ErrorCode.illegal_generation
        self._schedule_expiry(group, member)
        if group.state == GroupState.PREPARING_REBALANCE:
            return ErrorCode.rebalance_in_progress
        return ErrorCode.none

    def leave(
        self, group_id: str, member_ids: Iterable[str], instance_ids: Iterable[str | None] | None = None
    ) -> list[tuple[str, ErrorCode]]:
        """LeaveGroup: (member_id, error_code) per member; a static member may leave by instance id."""
        group = self.groups.get(group_id)
        results = []
        pairs = (
            list(zip(member_ids, instance_ids, strict=True))
            if instance_ids is not None
            else [(m, None) for m in member_ids]
        )
        for mid, instance in pairs:
            if group is not None and instance is not None:
                known = group.static_members.get(instance)
                if mid and known is not None and known != mid:
                    results.append((mid, ErrorCode.fenced_instance_id))
                    continue
                mid = known or mid
            member = group.members.get(mid) if group is not None else None
            if group is None or member is None:
                if group is not None and mid in group.pending_members:
                    group.pending_members.pop(mid).cancel()
                    results.append((mid, ErrorCode.none))
                else:
                    results.append((mid, ErrorCode.unknown_member_id))
                continue
            log.info("group %s: member %s left", group_id, mid)
            self._remove_member(group, member, "LeaveGroup")
            results.append((mid, ErrorCode.none))
        return results

    # -- offsets -------------------------------------------------------------------------------

    def commit_offsets(
        self,
        group_id: str,
        generation_id: int,
        member_id: str,
        offsets: dict[tuple[str, int], OffsetAndMetadata],
        group_instance_id: str | None = None,
    ) -> tuple[dict[tuple[str, int], ErrorCode], Awaitable[None] | None]:
        """OffsetCommit: per-partition error codes, and an awaitable for durability (or None)."""
        if not group_id:
            return dict.fromkeys(offsets, ErrorCode.invalid_group_id), None
        group = self.groups.get(group_id)
        code = ErrorCode.none
        if group is not None and member_id and self._fenced(group, member_id, group_instance_id):
            code = ErrorCode.fenced_instance_id
        elif generation_id < 0 and not member_id:
            if group is not None and group.members:
                code = ErrorCode.unknown_member_id if group.state != GroupState.EMPTY else ErrorCode.none
        elif group is None or member_id not in group.members:
            code = ErrorCode.unknown_member_id
        elif generation_id != group.generation_id:
            code = ErrorCode.illegal_generation
        elif group.state == GroupState.COMPLETING_REBALANCE:
            # As Kafka: commits are still accepted while preparing a rebalance (the heartbeat tells the
            # member to rejoin); between JoinGroup and SyncGroup they are refused.
            code = ErrorCode.rebalance_in_progress
        results: dict[tuple[str, int], ErrorCode] = {}
        accepted: dict[tuple[str, int], OffsetAndMetadata] = {}
        now_ms = int(time.time() * 1000)
        for tp, om in offsets.items():
            if code != ErrorCode.none:
                results[tp] = code
            elif self._topic_exists is not None and not self._topic_exists(*tp):
                results[tp] = ErrorCode.unknown_topic_or_partition
            else:
                if om.commit_timestamp_ms < 0:
                    om.commit_timestamp_ms = now_ms
                accepted[tp] = om
                results[tp] = ErrorCode.none
        if not accepted:
            return results, None
        group = self.group(group_id, create=True)
        assert group is not None
        if member_id and member_id in group.members:
            self._schedule_expiry(group, group.members[member_id])
        group.offsets.update(accepted)
        durable = self.store.append_offsets(group_id, accepted) if self.store is not None else None
        return results, durable

    def fetch_offsets(
        self, group_id: str, partitions: list[tuple[str, int]] | None
    ) -> dict[tuple[str, int], OffsetAndMetadata | None]:
        group = self.groups.get(group_id)
        stored = group.offsets if group is not None else {}
        if partitions is None:
            return dict(stored)
        return {tp: stored.get(tp) for tp in partitions}

    # -- admin ---------------------------------------------------------------------------------

    def describe(self, group_id: str) -> dict[str, Any]:
        group = self.groups.get(group_id)
        if group is None:
            return {
                "error_code": ErrorCode.none,
                "group_id": group_id,
                "group_state": "Dead",
                "protocol_type": "",
                "protocol_data": "",
                "members": [],
                "authorized_operations": -2147483648,
            }
        return {
            "error_code": ErrorCode.none,
            "group_id": group_id,
            "group_state": group.state.value,
            "protocol_type": group.protocol_type or "",
            "protocol_data": group.protocol_name or "",
            "authorized_operations": -2147483648,
            "members": [
                {
                    "member_id": m.member_id,
                    "group_instance_id": m.group_instance_id,
                    "client_id": m.client_id,
                    "client_host": m.client_host,
                    "member_metadata": m.metadata_for(group.protocol_name)
                    if group.state == GroupState.STABLE
                    else b"",
                    "member_assignment": m.assignment if group.state == GroupState.STABLE else b"",
                }
                for m in group.members.values()
            ],
        }

    def list_groups(self, states: set[str] | None = None) -> list[dict[str, Any]]:
        return [
            {
                "group_id": g.group_id,
                "protocol_type": g.protocol_type or "",
                "group_state": g.state.value,
                "group_type": "classic",
            }
            for g in self.groups.values()
            if g.state != GroupState.DEAD and (not states or g.state.value in states)
        ]

    def delete_group(self, group_id: str) -> ErrorCode:
        group = self.groups.get(group_id)
        if group is None or group.state == GroupState.DEAD:
            return ErrorCode.group_id_not_found
        if group.members or group.state != GroupState.EMPTY:
            return ErrorCode.non_empty_group
        if self.store is not None:
            self.store.delete_group(group)
        group.state = GroupState.DEAD
        del self.groups[group_id]
        log.info("group %s deleted", group_id)
        return ErrorCode.none

    def restore(
        self,
        group_id: str,
        generation_id: int | None,
        protocol_type: str | None,
        offsets: dict[tuple[str, int], OffsetAndMetadata | None],
        deleted: bool = False,
    ) -> None:
        """Load state read back from the store at start-up (groups come back Empty, with their
        generation and offsets; members rejoin). ``deleted`` drops the group (its tombstone)."""
        if deleted:
            self.groups.pop(group_id, None)
            return
        group = self.group(group_id, create=True)
        assert group is not None
        if generation_id is not None:
            group.generation_id = max(group.generation_id, generation_id)
            group.protocol_type = protocol_type
        for tp, om in offsets.items():
            if om is None:
                group.offsets.pop(tp, None)
            else:
                group.offsets[tp] = om

    def shutdown(self) -> None:
        for group in self.groups.values():
            if group.rebalance_timer is not None:
                group.rebalance_timer.cancel()
            for handle in group.pending_members.values():
                handle.cancel()
            for m in group.members.values():
                if m.expiry is not None:
                    m.expiry.cancel()
