import type { Trx } from '../storage/database.js';
import { seatsInUse } from '../storage/invitations.repository.js';
import type { OrganizationRow } from '../storage/schema.js';
import { AppError } from '../errors.js';

/**
 * Seats: members plus pending invitations never exceed `maxMembers`. Counted under the
 * organization's lock, which every change that takes a seat (addMember, createInvitation,
 * resendInvitation of an expired one, acceptInvitation) holds until it commits, so no
 * interleaving of them can overshoot. `taking` is how many seats the change adds to those in use
 * (an accepted invitation already holds its own: 0).
 */
export async function requireSeat(trx: Trx, org: OrganizationRow, now: Date, taking: 0 | 1) {
  const max = org.max_members;
  if (max === null || max === undefined) return;
  const used = await seatsInUse(trx, org.id, now);
  if (used + taking > max) {
    throw new AppError(
      'SEAT_LIMIT_REACHED',
      `The organization uses ${used} of its ${max} seats (members and pending invitations): free a seat or raise maxMembers.`,
    );
  }
}
