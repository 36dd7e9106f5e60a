/** Shared inputs and checks for the manifest tests: the reference document's php-fpm + nginx example. */
import { expect } from "@jest/globals";
import { dumpYaml, loadYaml, type KubernetesObject } from "@kubernetes/client-node";
import { ID_LABEL, MANAGED_BY_LABEL, getIdFromAnnotation } from "../../../lib/manifests/labels.ts";
import { isDns1035Label, isDnsLabel, isDnsSubdomain, isValidLabelValue } from "../../../lib/manifests/validate.ts";
import type { DeploymentInput, ImageSpec } from "../../../lib/manifests/deployment.ts";
import { envChecksum } from "../../../lib/manifests/env.ts";

export const NAMESPACE = "my-namespace";

/** The reference document's php image. */
export const PHP_IMAGE: ImageSpec = {
  image: "php:8.1.0-fpm",
  registry: "docker.io",
  tag: "8.1.0-fpm",
  digest: "sha256:001281a0eb6140b0e5096664d785abd6e6d2921316d002c1d912867725076299",
  imagePullPolicy: "IfNotPresent",
  imagePullSecrets: [],
  ports: [{ name: "php", port: 9000, protocol: "TCP" }],
  resources: { limits: { cpu: 500, memory: 500 }, requests: { cpu: 100, memory: 20 } },
};

/** An nginx image in the same shape, reading config from /etc/nginx/conf.d. */
export const NGINX_IMAGE: ImageSpec = {
  image: "nginx:1.25",
  registry: "docker.io",
  imagePullPolicy: "IfNotPresent",
  ports: [{ name: "http", port: 80, protocol: "TCP" }],
  resources: { limits: { cpu: 500, memory: 512 }, requests: { cpu: 100, memory: 64 } },
  config: { mountPath: "/etc/nginx/conf.d" },
};

export const SHARED_CLAIM = "my-app-nginx-php-data";

export const DEFAULT_CONF = `server {
    root /var/www/html;
    location ~ .php$ {
        fastcgi_pass my-app-php-service.${NAMESPACE}.svc.cluster.local:9000;
    }
}`;

export const PHP_DEPLOYMENT: DeploymentInput = {
  id: "php0000000000001",
  name: "my-app-php",
  namespace: NAMESPACE,
  image: PHP_IMAGE,
  replicas: 1,
  vHosts: [],
  volumes: [
    {
      name: "php-data",
      type: "persistentVolumeClaim",
      mountPath: "/var/www/html",
      persistentVolumeClaim: { claimName: SHARED_CLAIM },
    },
  ],
  env: {
    configMapName: "my-app-php-env",
    secretName: "my-app-php-env",
    checksum: envChecksum({}, { PHP_ROOT_PASSWORD: "s3cret" }),
  },
  revision: 1,
};

export const NGINX_DEPLOYMENT: DeploymentInput = {
  id: "ngx0000000000001",
  name: "my-app-nginx",
  namespace: NAMESPACE,
  image: NGINX_IMAGE,
  replicas: 2,
  vHosts: ["my-app.nginx.example.com"],
  volumes: [
    {
      name: "nginx-data",
      type: "persistentVolumeClaim",
      mountPath: "/var/www/html",
      persistentVolumeClaim: { claimName: SHARED_CLAIM },
    },
  ],
  configMap: { name: "nginx-config", data: { "default.conf": DEFAULT_CONF } },
  env: { configMapName: "my-app-nginx-env", secretName: "my-app-nginx-env", checksum: envChecksum({}, {}) },
  ingressClass: "nginx",
  revision: 3,
};

/** Deep-freezes a value (arrays and objects), so a renderer that mutates its input throws in strict mode. */
export function deepFreeze<T>(value: T): T {
  if (typeof value === "object" && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value as Record<string, unknown>)) deepFreeze(v);
  }
  return value;
}

const NAMESPACED = new Set([
  "ResourceQuota",
  "LimitRange",
  "PersistentVolumeClaim",
  "ConfigMap",
  "Secret",
  "Deployment",
  "Service",
  "Ingress",
]);
const QUALIFIED_NAME = /^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/;

function isLabelKey(key: string): boolean {
  const parts = key.split("/");
  const name = parts.pop() ?? "";
  if (parts.length > 1) return false;
  const prefix = parts[0];
  if (prefix !== undefined && !isDnsSubdomain(prefix)) return false;
  return name.length <= 63 && QUALIFIED_NAME.test(name);
}

/**
 * What the API server would check first about any object we render, without kubernetes-models: kind and apiVersion
 * set; a valid name (RFC 1035 label for Services, RFC 1123 label for Namespaces, subdomain otherwise); a valid
 * namespace where the kind is namespaced; valid label keys and values; the ownership labels and annotation; none of
 * the server-owned fields; and no field @kubernetes/client-node's model does not know (a serialise/deserialise round
 * trip through its ObjectSerializer drops unknown fields, so a typo such as `imag` or `selektor` fails here).
 */
export function expectWellFormed(obj: KubernetesObject): void {
  expect(typeof obj.apiVersion).toBe("string");
  expect(typeof obj.kind).toBe("string");
  const kind = obj.kind ?? "";
  const name = obj.metadata?.name ?? "";
  if (kind === "Service") expect(isDns1035Label(name)).toBe(true);
  else if (kind === "Namespace") expect(isDnsLabel(name)).toBe(true);
  else expect(isDnsSubdomain(name)).toBe(true);
  if (NAMESPACED.has(kind)) expect(isDnsLabel(obj.metadata?.namespace ?? "")).toBe(true);
  else expect(obj.metadata?.namespace).toBeUndefined();
  const labels = obj.metadata?.labels ?? {};
  for (const [key, value] of Object.entries(labels)) {
    expect([key, isLabelKey(key)]).toEqual([key, true]);
    expect([key, isValidLabelValue(value)]).toEqual([key, true]);
  }
  expect(labels[MANAGED_BY_LABEL]).toBe("moleculer-k8s");
  expect(labels[ID_LABEL]).toEqual(expect.any(String));
  expect(getIdFromAnnotation(obj)).toEqual(expect.any(String));
  expect(obj).not.toHaveProperty("status");
  expect(obj.metadata).not.toHaveProperty("resourceVersion");
  expect(obj.metadata).not.toHaveProperty("managedFields");
  expect(obj.metadata).not.toHaveProperty("uid");
  expect(obj.metadata).not.toHaveProperty("creationTimestamp");
  expect(loadYaml(dumpYaml(obj))).toEqual(obj);
}
