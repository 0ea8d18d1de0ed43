import type { components } from '../../generated/api.js';

/** The service's permissions, as the contract's `Permission` lists them. */
export type Permission = components['schemas']['Permission'];

/** Every permission of the contract with its description (a missing or unknown one fails `tsc`). */
export const PERMISSION_DESCRIPTIONS: Record<Permission, string> = {
  'org:read': 'See the organization.',
  'org:manage': 'Rename the organization and change its slug.',
  'members:read': 'List and read members.',
  'members:invite': 'Add members.',
  'members:manage': "Change members' roles, suspend and reactivate them.",
  'members:remove': 'Remove members.',
  'roles:read': 'List and read roles.',
  'roles:manage': 'Create, edit and delete custom roles.',
  'teams:read': 'List and read teams and their members.',
  'teams:manage': 'Create, edit and delete teams and set anyone’s team role.',
  'audit:read': 'Read the audit trail.',
  'api_keys:manage': 'Manage API keys.',
  'billing:manage': 'Manage billing.',
};

export const PERMISSIONS = Object.keys(PERMISSION_DESCRIPTIONS) as readonly Permission[];

export type BuiltInRoleId = 'owner' | 'admin' | 'member' | 'viewer';

export interface BuiltInRole {
  id: BuiltInRoleId;
  name: string;
  description: string;
  permissions: readonly Permission[];
  rank: number;
}

export const BUILT_IN_ROLES: readonly BuiltInRole[] = [
  {
    id: 'owner',
    name: 'Owner',
    description: 'Every permission. Exactly one per organization; changes only by transfer.',
    permissions: PERMISSIONS,
    rank: 0,
  },
  {
    id: 'admin',
    name: 'Admin',
    description: 'Every permission but billing.',
    permissions: PERMISSIONS.filter((p) => p !== 'billing:manage'),
    rank: 1,
  },
  {
    id: 'member',
    name: 'Member',
    description: 'Reads the organization, its members, roles and teams.',
    permissions: ['org:read', 'members:read', 'roles:read', 'teams:read'],
    rank: 2,
  },
  {
    id: 'viewer',
    name: 'Viewer',
    description: 'Reads the organization and its members.',
    permissions: ['org:read', 'members:read'],
    rank: 3,
  },
];

export const OWNER_ROLE_ID = 'owner';
export const FORMER_OWNER_ROLE_ID = 'admin';
export const DEFAULT_ROLE_ID = 'member';
/** Custom roles sort after the built-in ones. */
export const CUSTOM_ROLE_RANK = 100;
