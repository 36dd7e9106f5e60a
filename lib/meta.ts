/**
 * What a call carries about its caller. The gateway sets `userID` and `roles` from a verified JWT; a call without
 * `userID` comes from inside the broker and is trusted (docs/architecture.md, "Access").
 */
export interface CallerMeta {
  userID?: string;
  roles?: string[];
}

export const ADMIN_ROLE = "admin";

/** A call from another service of the broker, not from a person through the gateway. */
export function isInternal(meta: CallerMeta | undefined): boolean {
  return meta?.userID === undefined;
}

/** A person with the admin role: sees and may change everything. */
export function isAdmin(meta: CallerMeta | undefined): boolean {
  return meta?.roles?.includes(ADMIN_ROLE) === true;
}
