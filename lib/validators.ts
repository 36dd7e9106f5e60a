/**
 * Name and value rules shared by the record services: Kubernetes DNS names, domain names, reserved namespaces.
 * Pure functions and regular expressions (usable as fastest-validator `pattern`s); no I/O.
 */
import { createHash } from "node:crypto";

/** RFC 1123 label as Kubernetes uses it (namespace, service, deployment names): lower-case, ≤ 63 characters. */
export const DNS_1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
export const DNS_1123_LABEL_MAX = 63;

/** RFC 1123 subdomain as Kubernetes uses it (ConfigMap, Secret, PVC names): dot-separated labels, ≤ 253 characters. */
export const DNS_1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
export const DNS_1123_SUBDOMAIN_MAX = 253;

/** A host name of at least two labels whose last label (the TLD) is not all digits, so IP addresses are not names. */
export const DOMAIN_NAME = /^([a-z0-9]([-a-z0-9]*[a-z0-9])?\.)+[a-z0-9]*[a-z]([-a-z0-9]*[a-z0-9])?$/;
export const DOMAIN_NAME_MAX = 253;

/** IANA service name (container port names): ≤ 15 characters, lower-case letters, digits and single inner hyphens, one letter. */
export const IANA_SVC_NAME = /^(?=.*[a-z])[a-z0-9]([a-z0-9]|-(?!-))*[a-z0-9]$|^[a-z]$/;
export const IANA_SVC_NAME_MAX = 15;

/** An environment variable name Kubernetes accepts (`[-._a-zA-Z][-._a-zA-Z0-9]*`). */
export const ENV_VAR_NAME = /^[-._a-zA-Z][-._a-zA-Z0-9]*$/;

/**
 * An absolute path inside a container where a volume may be mounted: starts with `/`, no `..` segment, no `:`, no NUL
 * (lib/manifests/validate.ts `isValidMountPath`, which the deployments' render check uses, as a pattern for the schemas).
 */
export const ABSOLUTE_PATH = /^\/(?!(?:[^\0]*\/)?\.\.(?:\/|$))[^\0:]*$/;

/** A content digest such as `sha256:<64 hex>`. */
export const IMAGE_DIGEST = /^sha256:[a-f0-9]{64}$/;

/** The namespace the suite itself runs in. */
export const SUITE_NAMESPACE = "moleculer-k8s";

/** Namespaces prefixed so belong to Kubernetes (`kube-system`, `kube-public`, `kube-node-lease`, …). */
export const RESERVED_NAMESPACE_PREFIX = "kube-";

/**
 * Namespaces that exist in every cluster and belong to it, not to the suite. A record may name one (the reference
 * example resolves a namespace named `default`), but the cluster side must never delete the namespace itself.
 */
export const CLUSTER_OWNED_NAMESPACES: readonly string[] = ["default"];

export function isDnsLabel(value: string): boolean {
  return value.length <= DNS_1123_LABEL_MAX && DNS_1123_LABEL.test(value);
}

export function isDnsSubdomain(value: string): boolean {
  return value.length <= DNS_1123_SUBDOMAIN_MAX && DNS_1123_SUBDOMAIN.test(value) && value.split(".").every(isDnsLabel);
}

/** A lower-case DNS host name with at least two labels, each ≤ 63 characters, ≤ 253 in all, not an IP address. */
export function isDomainName(value: string): boolean {
  return value.length <= DOMAIN_NAME_MAX && DOMAIN_NAME.test(value) && value.split(".").every(isDnsLabel);
}

/** `domain` is one of `allowed` or a subdomain of one; an empty list allows every valid name. */
export function isDomainAllowed(domain: string, allowed: readonly string[]): boolean {
  if (allowed.length === 0) return true;
  const d = domain.toLowerCase();
  return allowed.some((a) => {
    const base = a.toLowerCase().replace(/^\*\./, "").replace(/\.$/, "");
    return d === base || d.endsWith(`.${base}`);
  });
}

/**
 * Names no tenant namespace may take: `kube-*`, the suite's own namespace and every `moleculer-k8s-*` name (the suite
 * keeps those for itself, e.g. `moleculer-k8s-builds` where image builds run). `default` is allowed.
 */
export function isReservedNamespace(name: string): boolean {
  return (
    name.startsWith(RESERVED_NAMESPACE_PREFIX) || name === SUITE_NAMESPACE || name.startsWith(`${SUITE_NAMESPACE}-`)
  );
}

/** Namespaces the cluster owns (never deleted by the suite even when their record is removed). */
export function isClusterOwnedNamespace(name: string): boolean {
  return CLUSTER_OWNED_NAMESPACES.includes(name) || name.startsWith(RESERVED_NAMESPACE_PREFIX);
}

/** The prefix of the personal namespaces `v1.k8s.images.deploy` makes (`personalNamespaceName`). */
export const PERSONAL_NAMESPACE_PREFIX = "user-";

/** `user-<userID>` as a namespace name: lower-case `[a-z0-9-]`; a hash suffix keeps changed or long ids distinct. */
export function personalNamespaceName(userID: string): string {
  const cleaned = userID
    .toLowerCase()
    .replace(/[^a-z0-9-]/g, "-")
    .replace(/-+/g, "-")
    .replace(/^-+|-+$/g, "");
  const plain = `${PERSONAL_NAMESPACE_PREFIX}${cleaned}`.replace(/-+$/, "");
  if (cleaned === userID && plain.length <= DNS_1123_LABEL_MAX) return plain;
  const hash = createHash("sha256").update(userID).digest("hex").slice(0, 8);
  return `${plain.slice(0, DNS_1123_LABEL_MAX - 9).replace(/-+$/, "")}-${hash}`;
}

/**
 * Whether `name` may be someone else's personal namespace: every `user-*` name but the caller's own. Such names are
 * kept for their users, whose one-call deploy makes and uses them; another user holding one would leave its user a
 * 403 there, or, by making them a member, their deployments in a namespace that user does not own.
 */
export function isOthersPersonalNamespace(name: string, userID: string): boolean {
  return name.startsWith(PERSONAL_NAMESPACE_PREFIX) && name !== personalNamespaceName(userID);
}

/**
 * The namespace route spaces a host could lie in, nearest first: `<name>.<namespace>.<domain>` is the route a deployment
 * gets by default (`POST /images/:id/deploy`), so every host under `<namespace>.<domain>` is that namespace's to take.
 * For `a.b.shop.apps.example.com`: b under shop.apps.example.com, shop under apps.example.com, apps under
 * example.com, example under com (the label, and the domain after it). A wildcard's `*` is a label like any other.
 */
export function routeSpacesOf(host: string): { namespace: string; domain: string }[] {
  const labels = host.toLowerCase().replace(/\.$/, "").split(".");
  const spaces: { namespace: string; domain: string }[] = [];
  for (let k = 1; k < labels.length - 1; k++) {
    spaces.push({ namespace: labels[k] ?? "", domain: labels.slice(k + 1).join(".") });
  }
  return spaces;
}

/** Why `name` cannot be a namespace name, or undefined when it can. */
export function namespaceNameProblem(name: string): string | undefined {
  if (name.length === 0) return "must not be empty";
  if (name.length > DNS_1123_LABEL_MAX) return `must be at most ${DNS_1123_LABEL_MAX} characters`;
  if (!DNS_1123_LABEL.test(name)) {
    return "must be a DNS-1123 label: lower-case letters, digits and '-', starting and ending with a letter or digit";
  }
  if (isReservedNamespace(name)) {
    return `is reserved ('${RESERVED_NAMESPACE_PREFIX}*', '${SUITE_NAMESPACE}' and '${SUITE_NAMESPACE}-*')`;
  }
  return undefined;
}
