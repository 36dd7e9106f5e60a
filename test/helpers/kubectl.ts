/** Runs the real kubectl (/usr/bin/kubectl) against a kubeconfig file, never the user's own (KUBECONFIG cleared). */
import { execFile } from "node:child_process";

export interface KubectlRun {
  code: number;
  stdout: string;
  stderr: string;
}

export interface KubectlOptions {
  kubeconfig: string;
  /** kubectl's discovery cache (one per test file keeps runs independent). */
  cacheDir: string;
  stdin?: string;
  timeoutMs?: number;
}

export function kubectl(args: string[], options: KubectlOptions): Promise<KubectlRun> {
  return new Promise((resolve) => {
    const child = execFile(
      "/usr/bin/kubectl",
      ["--kubeconfig", options.kubeconfig, "--cache-dir", options.cacheDir, ...args],
      { timeout: options.timeoutMs ?? 30000, env: { ...process.env, KUBECONFIG: "" } },
      (err, stdout, stderr) => {
        const code = err === null ? 0 : typeof err.code === "number" ? err.code : 1;
        resolve({ code, stdout, stderr });
      },
    );
    if (options.stdin !== undefined) child.stdin?.end(options.stdin);
  });
}

/** kubectl that must succeed: its stdout, or an error with its stderr. */
export async function kubectlOk(args: string[], options: KubectlOptions): Promise<string> {
  const run = await kubectl(args, options);
  if (run.code !== 0) throw new Error(`kubectl ${args.join(" ")} failed (${run.code}): ${run.stderr}`);
  return run.stdout;
}
