// Test harness: builds the Go binaries once per test process (go build is a
// no-op when they are up to date), starts a real `medshare serve --demo` on a
// free loopback port in a temporary data directory, mints tokens with
// `medshare token`, and runs the Go interop helper.

import { execFile, execFileSync, spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";

/**
 * The repository's root: the nearest directory above this file with a go.mod
 * (the client's tests run it from web/client/build/test/, the portal's from
 * web/portal/build/client/test/).
 */
export const ROOT = findRoot(dirname(fileURLToPath(import.meta.url)));

function findRoot(dir: string): string {
  for (let d = dir; ; d = dirname(d)) {
    if (existsSync(join(d, "go.mod"))) return d;
    if (dirname(d) === d) throw new Error(`no go.mod above ${dir}`);
  }
}
const BIN = join(ROOT, "web", "client", "build", "bin");
const MEDSHARE = join(BIN, "medshare");
const INTEROP = join(BIN, "gointerop");

const built = new Set<string>();

function goBuild(out: string, pkg: string, flags: string[]): void {
  if (built.has(out)) return;
  execFileSync("go", ["build", ...flags, "-o", out, pkg], { cwd: ROOT, stdio: ["ignore", "inherit", "inherit"] });
  built.add(out);
}

/**
 * Builds bin/medshare from this checkout (once per process). It is built
 * with -race: after `go test -race ./...` (make test) only its link is left
 * to do, and it runs under the race detector while the client drives it.
 */
export function buildGo(): void {
  goBuild(MEDSHARE, "./cmd/medshare", ["-race"]);
}

// The Go interop helper is built without -race: a race binary takes a
// second to start, and it runs many times.
function buildInterop(): void {
  goBuild(INTEROP, "./web/client/test/gointerop", []);
}

const execFileP = promisify(execFile);

/** Runs the Go interop helper and parses its JSON answer. */
export async function goInterop(...args: string[]): Promise<Record<string, unknown>> {
  buildInterop();
  try {
    const { stdout } = await execFileP(INTEROP, args, { maxBuffer: 64 << 20 });
    return JSON.parse(stdout) as Record<string, unknown>;
  } catch (e) {
    const err = e as { stderr?: string; message: string };
    throw new Error(`gointerop ${args[0]}: ${err.stderr?.trim() || err.message}`);
  }
}

/** A running `medshare serve --demo`. */
export class Server {
  readonly url: string;
  readonly dataDir: string;
  /** Tokens printed by --demo. */
  readonly patientToken: string;
  readonly proToken: string;
  readonly clinicToken: string;
  /** The demo appointment: demo-patient and demo-professional. */
  readonly appointmentId: string;
  private readonly child: ChildProcess;
  private readonly logs: string[];

  private constructor(url: string, dataDir: string, demo: Map<string, string>, child: ChildProcess, logs: string[]) {
    this.url = url;
    this.dataDir = dataDir;
    this.patientToken = demo.get("PATIENT_TOKEN")!;
    this.proToken = demo.get("PRO_TOKEN")!;
    this.clinicToken = demo.get("CLINIC_TOKEN")!;
    this.appointmentId = demo.get("APPOINTMENT_ID")!;
    this.child = child;
    this.logs = logs;
  }

  /** Starts a server; env adds variables such as MEDSHARE_CHAT_URL_TTL. */
  static async start(env: Record<string, string> = {}): Promise<Server> {
    buildGo();
    const dataDir = mkdtempSync(join(tmpdir(), "medshare-web-"));
    const child = spawn(
      MEDSHARE,
      ["serve", "--demo", "--addr", "127.0.0.1:0", "--data-dir", dataDir, "--jobs=false"],
      { env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] },
    );
    const logs: string[] = [];
    const demo = new Map<string, string>();
    const ready = new Promise<string>((resolve, reject) => {
      createInterface({ input: child.stdout! }).on("line", (line) => {
        const m = /^export ([A-Z_]+)=(.*)$/.exec(line);
        if (m) demo.set(m[1]!, m[2]!);
      });
      createInterface({ input: child.stderr! }).on("line", (line) => {
        logs.push(line);
        try {
          const rec = JSON.parse(line) as { msg?: string; public_url?: string };
          if (rec.msg === "listening" && rec.public_url) resolve(rec.public_url);
        } catch {
          // not a log record
        }
      });
      child.on("exit", (code) => reject(new Error(`medshare serve exited (${code}) before listening:\n${logs.join("\n")}`)));
      child.on("error", reject);
    });
    const url = await ready;
    const s = new Server(url, dataDir, demo, child, logs);
    const health = await fetch(url + "/health");
    if (!health.ok) throw new Error(`health: ${health.status}`);
    if (!s.patientToken || !s.appointmentId) throw new Error("--demo printed no tokens");
    return s;
  }

  private readonly tokens = new Map<string, string>();

  /** A token for any subject and role, minted by `medshare token` with this server's key. */
  token(sub: string, role: "patient" | "professional" | "clinic"): string {
    let t = this.tokens.get(sub + "/" + role);
    if (t === undefined) {
      t = execFileSync(MEDSHARE, ["token", "--data-dir", this.dataDir, "--sub", sub, "--role", role], {
        encoding: "utf8",
      }).trim();
      this.tokens.set(sub + "/" + role, t);
    }
    return t;
  }

  /**
   * Stops the server and removes its data directory. Throws when the server
   * did not stop cleanly, or when the race detector reported a race.
   */
  async stop(): Promise<void> {
    let code = this.child.exitCode;
    if (code === null) {
      const exited = new Promise<number | null>((r) => this.child.once("exit", (c) => r(c)));
      this.child.kill("SIGTERM");
      code = await exited;
    }
    rmSync(this.dataDir, { recursive: true, force: true });
    if (code !== 0 || this.log.includes("WARNING: DATA RACE")) {
      throw new Error(`medshare serve exited with ${code}:\n${this.log}`);
    }
  }

  /** The server's log lines so far (for failure messages). */
  get log(): string {
    return this.logs.join("\n");
  }
}

/** One request as a counting fetch saw it. */
export interface SeenRequest {
  method: string;
  url: string;
  headers: Headers;
  /** The body's length in bytes; -1 when there was none. */
  bodyLength: number;
}

/**
 * A fetch that records every request and can count them by a predicate, so a
 * test sees exactly what the client sent.
 */
export function countingFetch(): { fetch: typeof fetch; seen: SeenRequest[]; count: (p: (r: SeenRequest) => boolean) => number } {
  const seen: SeenRequest[] = [];
  const f: typeof fetch = async (input, init) => {
    const body = init?.body;
    let bodyLength = -1;
    if (typeof body === "string") bodyLength = new TextEncoder().encode(body).length;
    else if (body instanceof Uint8Array) bodyLength = body.length;
    else if (body !== undefined && body !== null) bodyLength = -2; // a kind the client never sends
    seen.push({ method: init?.method ?? "GET", url: String(input), headers: new Headers(init?.headers), bodyLength });
    return fetch(input, init);
  };
  return { fetch: f, seen, count: (p) => seen.filter(p).length };
}

/** Random bytes. */
export function randomBytes(n: number): Uint8Array<ArrayBuffer> {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i += 65536) crypto.getRandomValues(b.subarray(i, Math.min(n, i + 65536)));
  return b;
}
