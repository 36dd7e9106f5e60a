/**
 * `npm run token -- <userID> [--admin] [--expires 12h]`: prints a gateway token for the configured secret
 * (JWT_SECRET, or the one generated under DATA_DIR: the same loading as the gateway, so a token printed before
 * `npm start` works after). Only the token goes to stdout, so `TOKEN=$(npm run -s token -- alice)` works. The
 * production build bundles it as `dist/token.js` (scripts/build.ts): `node dist/token.js alice` in the container
 * image, which holds no sources.
 * Usage errors go to stderr with exit code 2; configuration errors with exit code 1.
 */
import { loadJwtSecret, signToken } from "../lib/auth.ts";
import { readConfig } from "../lib/config.ts";

/** How this was run: from the build (the image) or the sources. */
const COMMAND = process.argv[1]?.endsWith(".js") === true ? "node dist/token.js" : "npm run token --";
const USAGE = `usage: ${COMMAND} <userID> [--admin] [--expires <duration, e.g. 30m, 12h, 7d>]`;
const DURATION = /^[1-9]\d*\s*(s|sec|secs|m|min|mins|h|hr|hrs|d|day|days|w|week|weeks)$/;

interface Args {
  userID: string;
  admin: boolean;
  expiresIn?: string;
}

/** The arguments, or a message saying what is wrong with them. */
function parseArgs(argv: string[]): Args | string {
  let userID: string | undefined;
  let admin = false;
  let expiresIn: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] ?? "";
    if (arg === "--admin") admin = true;
    else if (arg === "--expires" || arg.startsWith("--expires=")) {
      const value = arg === "--expires" ? argv[++i] : arg.slice("--expires=".length);
      if (value === undefined || !DURATION.test(value)) return `--expires needs a duration such as 30m, 12h or 7d`;
      expiresIn = value;
    } else if (arg.startsWith("-")) return `unknown option '${arg}'`;
    else if (userID !== undefined) return `unexpected argument '${arg}'`;
    else if (arg.trim() === "") return "userID must not be empty";
    else userID = arg;
  }
  if (userID === undefined) return "missing <userID>";
  return { userID, admin, ...(expiresIn === undefined ? {} : { expiresIn }) };
}

async function main(argv: string[]): Promise<number> {
  if (argv.includes("--help") || argv.includes("-h")) {
    process.stderr.write(`${USAGE}\n`);
    return 0;
  }
  const args = parseArgs(argv);
  if (typeof args === "string") {
    process.stderr.write(`${args}\n${USAGE}\n`);
    return 2;
  }
  let secret: string;
  try {
    secret = loadJwtSecret(readConfig(process.env));
  } catch (err) {
    process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
    return 1;
  }
  process.stdout.write(`${await signToken(args, secret)}\n`);
  return 0;
}

process.exitCode = await main(process.argv.slice(2));
