import type { components } from '../../generated/api.js';

/** A permission of the catalogue: the service's own, or one the product defined. */
export type Permission = components['schemas']['Permission'];

/** The service's own permissions, as the contract's `ServicePermission` lists them. */
export type ServicePermission = components['schemas']['ServicePermission'];

/** The built-in roles besides the owner that can include a product permission. */
export type IncludingRole = components['schemas']['IncludingRole'];

/** Every service permission with its description (a missing or unknown one fails `tsc`). */
export const PERMISSION_DESCRIPTIONS: Record<ServicePermission, string> = {
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
  'webhooks:manage': 'Manage webhook endpoints, their secrets and deliveries.',
};

export const PERMISSIONS = Object.keys(PERMISSION_DESCRIPTIONS) as readonly ServicePermission[];

export const isServicePermission = (id: string): id is ServicePermission =>
  Object.hasOwn(PERMISSION_DESCRIPTIONS, id);

/** At most this many product permissions in the catalogue. */
export const MAX_PRODUCT_PERMISSIONS = 1000;

export type BuiltInRoleId = 'owner' | 'admin' | 'member' | 'viewer';

export interface BuiltInRole {
  id: BuiltInRoleId;
  name: string;
  description: string;
  permissions: readonly ServicePermission[];
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
