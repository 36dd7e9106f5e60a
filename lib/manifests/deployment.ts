/**
 * A deployment record's objects (component `deployment`): the apps/v1 Deployment, its ClusterIP Service
 * `<name>-service`, its Ingress `<name>-ingress` (one rule per vHost) and its config ConfigMap
 * `<name>-<configMap.name>`. The env ConfigMap/Secret `<name>-env` belong to the envs service (env.ts); the
 * Deployment only reads them.
 *
 * Decisions, so callers know what they get:
 * - Names are used as given; check them first with `deploymentInputIssues` (validate.ts). A deployment name must be
 *   an RFC 1035 label of at most 55 characters, so that `<name>-service` is a valid Service name; other pods reach it
 *   at `<name>-service.<namespace>.svc.cluster.local:<port>` (the reference example's php-fpm on 9000).
 * - Image reference: `registry/` is prefixed unless the image already names a registry host; the tag (in `image` or
 *   `tag`) wins over the digest, and `@digest` pins the image only when no tag is given. A catalog digest that does
 *   not belong to the tag would otherwise make every pull fail.
 * - Config files: the ConfigMap is one volume; each key is mounted as its own file (`subPath`) at
 *   `<mountPath>/<key>`, read-only, so the files the image already has in that directory stay (nginx's
 *   `/etc/nginx/conf.d/default.conf` is replaced, php's `conf.d/*.ini` would be kept). `mountPath` is the
 *   configMap's own, else the image's `config.mountPath`; with neither the ConfigMap is rendered but not mounted.
 *   subPath mounts do not see live updates: the checksum annotation rolls the pods instead.
 * - Pod template annotations: `moleculer-k8s/config-checksum` = sha256 over the env checksum and the config files,
 *   so a changed env value or config file rolls the pods and nothing else does; `kubectl.kubernetes.io/restartedAt`
 *   when `restartedAt` is set (what `kubectl rollout restart` writes). The record revision goes on the Deployment's
 *   own metadata (`moleculer-k8s/revision`), not the template, so a revision that changes only replicas rolls nothing.
 * - Security: pod seccomp `RuntimeDefault`, container `allowPrivilegeEscalation: false`, no service-account token
 *   (`automountServiceAccountToken: false`), no service-link env vars (`enableServiceLinks: false`: they collide with
 *   images' own `<NAME>_PORT` variables). Root is not forbidden (nginx and php-fpm start as root and drop to a worker
 *   user), capabilities are the runtime's defaults: the pods pass the namespace's `baseline` pod-security level.
 * - Resources: the record's values over the image's, field by field; a request above its limit is lowered to the
 *   limit. None at all → no `resources` (the namespace's LimitRange fills them in).
 * - Ports: container port names are sanitised to IANA service names (≤ 15 characters; `port-<n>` when nothing is
 *   left; duplicates get `-<n>`); the Service uses the same names with `port` = `targetPort` = the image port. No
 *   ports → no Service (`renderService` returns undefined) and so no Ingress.
 * - Ingress: the backend is the first TCP port that looks like HTTP (name containing http/web, or 80, 8080, 8000,
 *   3000, 443, 8443), else the first TCP port; pathType Prefix `/`; `ingressClassName` only when given (else the
 *   cluster's default class). No vHosts → undefined. Duplicate vHosts are rendered once.
 */
import type {
  V1ConfigMap,
  V1Container,
  V1ContainerPort,
  V1Deployment,
  V1EnvFromSource,
  V1Ingress,
  V1ResourceRequirements,
  V1Service,
  V1Volume,
  V1VolumeMount,
} from "@kubernetes/client-node";
import { sha256Hex, sortedRecord } from "./env.ts";
import {
  CHECKSUM_ANNOTATION,
  RESTARTED_AT_ANNOTATION,
  generateAnnotations,
  generateLabels,
  selectorLabels,
} from "./labels.ts";
import { cpuQuantity, memoryQuantity } from "./quantity.ts";
import { SERVICE_SUFFIX, isValidPortName } from "./validate.ts";

export const INGRESS_SUFFIX = "-ingress";

export type PortProtocol = "TCP" | "UDP" | "SCTP";
export type PullPolicy = "Always" | "IfNotPresent" | "Never";

/** A port the image listens on (the reference image shape). */
export interface ImagePort {
  /** A name for the port (`php`, `http`); sanitised to an IANA service name. */
  readonly name?: string;
  /** The port number, 1..65535. */
  readonly port: number;
  /** TCP (default), UDP or SCTP. */
  readonly protocol?: PortProtocol;
}

/** CPU in millicores, memory in MiB (the reference image shape: `cpu: 500` = 500m, `memory: 500` = 500Mi). */
export interface ResourceAmounts {
  readonly cpu?: number;
  readonly memory?: number;
}

export interface ResourcesSpec {
  readonly limits?: ResourceAmounts;
  readonly requests?: ResourceAmounts;
}

/** The image a deployment runs, resolved from the catalog (the reference image shape, the fields rendering needs). */
export interface ImageSpec {
  /** The image name with its tag, as in the catalog: `php:8.1.0-fpm`, `nginx:1.25`, `ghcr.io/org/app:1.0`. */
  readonly image: string;
  /** The registry host (`docker.io`); prefixed unless `image` already names one. */
  readonly registry?: string;
  /** A tag, appended when `image` carries none. */
  readonly tag?: string;
  /** A content digest `sha256:…`; used only when no tag is given. */
  readonly digest?: string;
  /** The container's imagePullPolicy; the Kubernetes default when not given. */
  readonly imagePullPolicy?: PullPolicy;
  /** Names of Secrets to pull with (strings or `{ name }` objects). */
  readonly imagePullSecrets?: readonly (string | { readonly name: string })[];
  /** The ports the image listens on. */
  readonly ports: readonly ImagePort[];
  /** The image's default resources. */
  readonly resources?: ResourcesSpec;
  /** Where the image reads config files from (`/etc/nginx/conf.d`). */
  readonly config?: { readonly mountPath: string };
}

interface VolumeMountFields {
  /** The pod volume's name (a DNS-1123 label, unique in the deployment). */
  readonly name: string;
  /** Where it is mounted. */
  readonly mountPath: string;
  /** A path inside the volume to mount instead of its root. */
  readonly subPath?: string;
  /** Mount read-only. */
  readonly readOnly?: boolean;
}

/** A PVC mounted into the deployment's container. */
export interface ClaimVolume extends VolumeMountFields {
  readonly type: "persistentVolumeClaim";
  /** The PVC to mount: the volume record's name. */
  readonly persistentVolumeClaim: { readonly claimName: string };
}

/** A scratch directory that lives as long as the pod (the image catalog's `emptyDir` volumes). */
export interface EmptyDirVolume extends VolumeMountFields {
  readonly type: "emptyDir";
  /** A size limit such as "1Gi"; none when not given. */
  readonly sizeLimit?: string;
}

/** A volume mounted into the deployment's container. */
export type DeploymentVolume = ClaimVolume | EmptyDirVolume;

/** The deployment's config files, rendered as ConfigMap `<name>-<configMap.name>`. */
export interface DeploymentConfigMap {
  /** A DNS-1123 label; also the pod volume's name. */
  readonly name: string;
  /** File name → content. */
  readonly data: Readonly<Record<string, string>>;
  /** Directory to put the files in; defaults to the image's `config.mountPath`. */
  readonly mountPath?: string;
}

/** A deployment record, resolved (image looked up, namespace name known, env checksum computed). */
export interface DeploymentInput {
  /** The deployment record's id. */
  readonly id: string;
  /** The deployment's name: the Deployment's name, the container's, and the prefix of the other objects' names. */
  readonly name: string;
  /** The Kubernetes namespace name (not the namespace record's id). */
  readonly namespace: string;
  /** The image to run. */
  readonly image: ImageSpec;
  /** Desired pod count (0 = stopped). */
  readonly replicas: number;
  /** Host names the Ingress routes to the Service; empty = no Ingress. */
  readonly vHosts: readonly string[];
  /** PVCs (and emptyDirs) to mount. */
  readonly volumes: readonly DeploymentVolume[];
  /** Config files to mount. */
  readonly configMap?: DeploymentConfigMap;
  /** Resources overriding the image's, field by field. */
  readonly resources?: ResourcesSpec;
  /**
   * The env objects to read (`<name>-env`; either may be left out) and `envChecksum(plain, secret)` of their values.
   */
  readonly env: { readonly configMapName?: string; readonly secretName?: string; readonly checksum: string };
  /** An ISO timestamp set by the `restart` action; a new value rolls the pods. */
  readonly restartedAt?: string;
  /** IngressClass name; the cluster default when not given. */
  readonly ingressClass?: string;
  /** The record's revision, recorded on the Deployment. */
  readonly revision: number;
}

/** Any object `renderDeploymentObjects` returns. */
export type DeploymentObject = V1ConfigMap | V1Deployment | V1Service | V1Ingress;

/** `<name>-service`. */
export function serviceName(deploymentName: string): string {
  return `${deploymentName}${SERVICE_SUFFIX}`;
}

/** `<name>-ingress`. */
export function ingressName(deploymentName: string): string {
  return `${deploymentName}${INGRESS_SUFFIX}`;
}

/** `<name>-<configMap.name>`. */
export function configMapName(deploymentName: string, configMap: Pick<DeploymentConfigMap, "name">): string {
  return `${deploymentName}-${configMap.name}`;
}

/** In-cluster DNS name of the deployment's Service: `<name>-service.<namespace>.svc.cluster.local`. */
export function serviceHost(deploymentName: string, namespace: string, clusterDomain = "cluster.local"): string {
  return `${serviceName(deploymentName)}.${namespace}.svc.${clusterDomain}`;
}

function namesRegistry(firstSegment: string): boolean {
  return firstSegment.includes(".") || firstSegment.includes(":") || firstSegment === "localhost";
}

/** The image reference the container pulls (see the module comment for the tag/digest rule). */
export function imageReference(image: ImageSpec): string {
  let ref = image.image;
  const slash = ref.indexOf("/");
  const hasRegistry = slash > 0 && namesRegistry(ref.slice(0, slash));
  if (image.registry !== undefined && image.registry !== "" && !hasRegistry) {
    ref = `${image.registry.replace(/\/+$/, "")}/${ref}`;
  }
  if (ref.includes("@")) return ref;
  const lastSegment = ref.slice(ref.lastIndexOf("/") + 1);
  if (lastSegment.includes(":")) return ref;
  if (image.tag !== undefined && image.tag !== "") return `${ref}:${image.tag}`;
  if (image.digest !== undefined && image.digest !== "") return `${ref}@${image.digest}`;
  return ref;
}

interface NamedPort {
  readonly name: string;
  readonly port: number;
  readonly protocol: PortProtocol;
}

function sanitizePortName(raw: string): string {
  return raw
    .toLowerCase()
    .replace(/[^a-z0-9-]/g, "-")
    .replace(/-+/g, "-")
    .slice(0, 15)
    .replace(/^-+|-+$/g, "");
}

/** The image's ports with valid, unique IANA names (container port names and Service port names alike). */
export function namedPorts(ports: readonly ImagePort[]): NamedPort[] {
  const used = new Set<string>();
  return ports.map((p) => {
    const protocol = p.protocol ?? "TCP";
    let name = sanitizePortName(p.name ?? "");
    if (!isValidPortName(name)) name = `port-${p.port}`;
    if (used.has(name)) {
      const suffix = `-${p.port}${protocol === "TCP" ? "" : protocol.toLowerCase().slice(0, 1)}`;
      name = `${name.slice(0, 15 - suffix.length).replace(/-+$/, "")}${suffix}`;
      if (!isValidPortName(name) || used.has(name)) name = `p${used.size}-${p.port}`.slice(0, 15);
    }
    used.add(name);
    return { name, port: p.port, protocol };
  });
}

const HTTP_PORTS: ReadonlySet<number> = new Set([80, 8080, 8000, 3000, 443, 8443]);

/** The first HTTP-looking TCP port (named http/web, or a usual HTTP port number); undefined when none. */
export function httpPort(ports: readonly ImagePort[]): NamedPort | undefined {
  return namedPorts(ports).find((p) => p.protocol === "TCP" && (/http|web/.test(p.name) || HTTP_PORTS.has(p.port)));
}

/** The port the Ingress routes to: the first HTTP-looking TCP port, else the first TCP port, else undefined. */
export function ingressPort(ports: readonly ImagePort[]): NamedPort | undefined {
  return httpPort(ports) ?? namedPorts(ports).find((p) => p.protocol === "TCP");
}

/** The container's resources: the record's over the image's, requests capped at limits; undefined when none. */
export function effectiveResources(
  image: ResourcesSpec | undefined,
  override: ResourcesSpec | undefined,
): V1ResourceRequirements | undefined {
  const limits = { ...image?.limits, ...override?.limits };
  const requests = { ...image?.requests, ...override?.requests };
  const out: { limits?: Record<string, string>; requests?: Record<string, string> } = {};
  const lim: Record<string, string> = {};
  const req: Record<string, string> = {};
  if (limits.cpu !== undefined) lim.cpu = cpuQuantity(limits.cpu);
  if (limits.memory !== undefined) lim.memory = memoryQuantity(limits.memory);
  if (requests.cpu !== undefined) req.cpu = cpuQuantity(Math.min(requests.cpu, limits.cpu ?? requests.cpu));
  if (requests.memory !== undefined) {
    req.memory = memoryQuantity(Math.min(requests.memory, limits.memory ?? requests.memory));
  }
  if (Object.keys(lim).length > 0) out.limits = lim;
  if (Object.keys(req).length > 0) out.requests = req;
  return Object.keys(out).length > 0 ? out : undefined;
}

/** The checksum on the pod template: env checksum + config files. */
export function podChecksum(input: Pick<DeploymentInput, "env" | "configMap">): string {
  return sha256Hex({ env: input.env.checksum, config: input.configMap?.data ?? {} });
}

function labelsOf(input: DeploymentInput): Record<string, string> {
  return generateLabels({ component: "deployment", name: input.name, id: input.id });
}

function configMountPath(input: DeploymentInput): string | undefined {
  return input.configMap?.mountPath ?? input.image.config?.mountPath;
}

function volumeMounts(input: DeploymentInput): V1VolumeMount[] {
  const mounts: V1VolumeMount[] = input.volumes.map((v) => ({
    name: v.name,
    mountPath: v.mountPath,
    ...(v.subPath === undefined ? {} : { subPath: v.subPath }),
    ...(v.readOnly === undefined ? {} : { readOnly: v.readOnly }),
  }));
  const dir = configMountPath(input);
  if (input.configMap !== undefined && dir !== undefined) {
    const base = dir.replace(/\/+$/, "");
    for (const key of Object.keys(input.configMap.data).sort()) {
      mounts.push({ name: input.configMap.name, mountPath: `${base}/${key}`, subPath: key, readOnly: true });
    }
  }
  return mounts;
}

function podVolumes(input: DeploymentInput): V1Volume[] {
  const volumes: V1Volume[] = input.volumes.map((v) =>
    v.type === "emptyDir"
      ? { name: v.name, emptyDir: v.sizeLimit === undefined ? {} : { sizeLimit: v.sizeLimit } }
      : { name: v.name, persistentVolumeClaim: { claimName: v.persistentVolumeClaim.claimName } },
  );
  if (input.configMap !== undefined && configMountPath(input) !== undefined) {
    volumes.push({ name: input.configMap.name, configMap: { name: configMapName(input.name, input.configMap) } });
  }
  return volumes;
}

function envFrom(input: DeploymentInput): V1EnvFromSource[] {
  const sources: V1EnvFromSource[] = [];
  if (input.env.configMapName !== undefined) {
    sources.push({ configMapRef: { name: input.env.configMapName, optional: true } });
  }
  if (input.env.secretName !== undefined) {
    sources.push({ secretRef: { name: input.env.secretName, optional: true } });
  }
  return sources;
}

function container(input: DeploymentInput): V1Container {
  const ports: V1ContainerPort[] = namedPorts(input.image.ports).map((p) => ({
    name: p.name,
    containerPort: p.port,
    protocol: p.protocol,
  }));
  const resources = effectiveResources(input.image.resources, input.resources);
  const from = envFrom(input);
  const mounts = volumeMounts(input);
  return {
    name: input.name,
    image: imageReference(input.image),
    ...(input.image.imagePullPolicy === undefined ? {} : { imagePullPolicy: input.image.imagePullPolicy }),
    ...(ports.length === 0 ? {} : { ports }),
    ...(from.length === 0 ? {} : { envFrom: from }),
    ...(resources === undefined ? {} : { resources }),
    ...(mounts.length === 0 ? {} : { volumeMounts: mounts }),
    securityContext: { allowPrivilegeEscalation: false },
  };
}

/** The apps/v1 Deployment. */
export function renderDeployment(input: DeploymentInput): V1Deployment {
  const volumes = podVolumes(input);
  const pullSecrets = (input.image.imagePullSecrets ?? []).map((s) => ({ name: typeof s === "string" ? s : s.name }));
  return {
    apiVersion: "apps/v1",
    kind: "Deployment",
    metadata: {
      name: input.name,
      namespace: input.namespace,
      labels: labelsOf(input),
      annotations: generateAnnotations({ id: input.id, revision: input.revision }),
    },
    spec: {
      replicas: input.replicas,
      revisionHistoryLimit: 10,
      selector: { matchLabels: selectorLabels({ name: input.name }) },
      strategy: { type: "RollingUpdate", rollingUpdate: { maxSurge: "25%", maxUnavailable: "25%" } },
      template: {
        metadata: {
          labels: labelsOf(input),
          annotations: generateAnnotations({
            id: input.id,
            extra: {
              [CHECKSUM_ANNOTATION]: podChecksum(input),
              ...(input.restartedAt === undefined ? {} : { [RESTARTED_AT_ANNOTATION]: input.restartedAt }),
            },
          }),
        },
        spec: {
          automountServiceAccountToken: false,
          enableServiceLinks: false,
          securityContext: { seccompProfile: { type: "RuntimeDefault" } },
          ...(pullSecrets.length === 0 ? {} : { imagePullSecrets: pullSecrets }),
          containers: [container(input)],
          ...(volumes.length === 0 ? {} : { volumes }),
        },
      },
    },
  };
}

/** The ClusterIP Service `<name>-service` over the image's ports; undefined when the image has no ports. */
export function renderService(input: DeploymentInput): V1Service | undefined {
  const ports = namedPorts(input.image.ports);
  if (ports.length === 0) return undefined;
  return {
    apiVersion: "v1",
    kind: "Service",
    metadata: {
      name: serviceName(input.name),
      namespace: input.namespace,
      labels: labelsOf(input),
      annotations: generateAnnotations({ id: input.id }),
    },
    spec: {
      type: "ClusterIP",
      selector: selectorLabels({ name: input.name }),
      ports: ports.map((p) => ({ name: p.name, port: p.port, targetPort: p.port, protocol: p.protocol })),
    },
  };
}

/** The Ingress `<name>-ingress`, one rule per vHost; undefined when there are no vHosts or no TCP port. */
export function renderIngress(input: DeploymentInput): V1Ingress | undefined {
  const port = ingressPort(input.image.ports);
  const hosts = [...new Set(input.vHosts)];
  if (hosts.length === 0 || port === undefined) return undefined;
  return {
    apiVersion: "networking.k8s.io/v1",
    kind: "Ingress",
    metadata: {
      name: ingressName(input.name),
      namespace: input.namespace,
      labels: labelsOf(input),
      annotations: generateAnnotations({ id: input.id }),
    },
    spec: {
      ...(input.ingressClass === undefined ? {} : { ingressClassName: input.ingressClass }),
      rules: hosts.map((host) => ({
        host,
        http: {
          paths: [
            {
              path: "/",
              pathType: "Prefix",
              backend: { service: { name: serviceName(input.name), port: { number: port.port } } },
            },
          ],
        },
      })),
    },
  };
}

/** The config ConfigMap `<name>-<configMap.name>`; undefined when the deployment has no config files. */
export function renderConfigMap(input: DeploymentInput): V1ConfigMap | undefined {
  if (input.configMap === undefined) return undefined;
  return {
    apiVersion: "v1",
    kind: "ConfigMap",
    metadata: {
      name: configMapName(input.name, input.configMap),
      namespace: input.namespace,
      labels: labelsOf(input),
      annotations: generateAnnotations({ id: input.id }),
    },
    data: sortedRecord(input.configMap.data),
  };
}

/**
 * Every object of a deployment, in apply order: the config ConfigMap (before the pods that mount it), the
 * Deployment, the Service, the Ingress (after the Service it routes to). Absent ones are left out.
 */
export function renderDeploymentObjects(input: DeploymentInput): DeploymentObject[] {
  return [renderConfigMap(input), renderDeployment(input), renderService(input), renderIngress(input)].filter(
    (o): o is DeploymentObject => o !== undefined,
  );
}
