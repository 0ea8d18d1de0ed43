import type { components } from '../../generated/api.js';
import { BatchFailed, inOrganizationBatch, type BatchOutcome, type Step } from './access.js';
import type { DomainDeps, RequestContext } from './context.js';
import { createInvitationStep, type NewInvitation } from './invitations.service.js';
import { addMemberStep, changeMemberStep, removeMemberStep } from './members.service.js';
import type { InvitationCreated, Member } from './model.js';

type MemberBatch = components['schemas']['MemberBatch'];
type MemberBatchOperation = components['schemas']['MemberBatchOperation'];

/** What a batch answers for each item: the status its single operation answers, and its value. */
export interface BatchItem<T> {
  index: number;
  status: number;
  outcome: BatchOutcome<T>;
}

export { BatchFailed };

/** The single operation each `op` is, as a step: exactly its rules, nothing of its own. */
function memberStep(
  orgId: string,
  op: MemberBatchOperation,
): Step<Member | null, Record<string, unknown>> {
  switch (op.op) {
    case 'add':
      return addMemberStep(orgId, {
        userId: op.userId,
        email: op.email,
        ...(op.name !== undefined ? { name: op.name } : {}),
        ...(op.imageUrl !== undefined ? { imageUrl: op.imageUrl } : {}),
        ...(op.roleId !== undefined ? { roleId: op.roleId } : {}),
      });
    case 'set_role':
      return changeMemberStep(orgId, op.userId, { roleId: op.roleId });
    case 'update':
      return changeMemberStep(orgId, op.userId, {
        ...(op.roleId !== undefined ? { roleId: op.roleId } : {}),
        ...(op.status !== undefined ? { status: op.status } : {}),
      });
    case 'remove':
      return removeMemberStep(orgId, op.userId);
  }
}

const SUCCESS = { add: 201, set_role: 200, update: 200, remove: 204 } as const;

/**
 * Bulk changes: each item is `addMember`, `setMemberRole`, `updateMember` or `removeMember`, held
 * to exactly its rules, in order, with its own audit events (see `inOrganizationBatch`).
 */
export async function batchMembers(
  deps: DomainDeps,
  ctx: RequestContext,
  orgId: string,
  batch: MemberBatch,
): Promise<BatchItem<Member | null>[]> {
  const statuses = batch.operations.map((op) => SUCCESS[op.op]);
  return withStatuses(
    statuses,
    inOrganizationBatch(
      deps,
      ctx,
      orgId,
      batch.operations.map((op) => () => memberStep(orgId, op)),
      batch.atomic ?? false,
    ),
  );
}

/** Bulk invitations: each item is `createInvitation`, with exactly its rules. */
export async function batchInvitations(
  deps: DomainDeps,
  ctx: RequestContext,
  orgId: string,
  batch: { invitations: NewInvitation[]; atomic?: boolean },
): Promise<BatchItem<InvitationCreated>[]> {
  return withStatuses(
    batch.invitations.map(() => 201),
    inOrganizationBatch(
      deps,
      ctx,
      orgId,
      batch.invitations.map((input) => () => createInvitationStep(deps, orgId, input)),
      batch.atomic ?? false,
    ),
  );
}

async function withStatuses<T>(
  statuses: number[],
  run: Promise<BatchOutcome<T>[]>,
): Promise<BatchItem<T>[]> {
  const items = (outcomes: BatchOutcome<T>[]) =>
    outcomes.map((outcome) => ({
      index: outcome.index,
      status: outcome.applied ? statuses[outcome.index]! : outcome.error.status,
      outcome,
    }));
  try {
    return items(await run);
  } catch (error) {
    if (error instanceof BatchFailed) throw new BatchRefused(items(error.outcomes));
    throw error;
  }
}

/** An atomic batch with a refused item: nothing was applied; every item's result. */
export class BatchRefused<T> extends Error {
  constructor(readonly items: BatchItem<T>[]) {
    super('an atomic batch had a refused item');
  }
}
