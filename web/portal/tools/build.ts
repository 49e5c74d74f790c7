// Builds the portal into web/dist: esbuild bundles src/main.ts (with
// @medshare/client from its sources) and src/styles.css into content-hashed
// files under assets/, and index.html is written from src/index.html with
// their names and Subresource Integrity hashes. The build is reproducible:
// the same sources and the same pinned esbuild give the same bytes (no
// timestamps, no absolute paths, no source maps), which the dist test checks
// against the committed web/dist.
//
// Usage: node build/portal/tools/build.js OUT_DIR (make web writes ../dist).

import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";

import { build } from "esbuild";

/** web/portal: the nearest directory above this file (compiled to build/portal/tools/) with the portal's package.json. */
export const PORTAL = findPortal(dirname(fileURLToPath(import.meta.url)));

function findPortal(dir: string): string {
  for (let d = dir; ; d = dirname(d)) {
    const p = join(d, "package.json");
    if (existsSync(p) && (JSON.parse(readFileSync(p, "utf8")) as { name?: string }).name === "@medshare/portal") return d;
    if (dirname(d) === d) throw new Error(`no @medshare/portal package above ${dir}`);
  }
}
/** Where `make web` writes the bundle: web/dist. */
export const DIST = resolve(PORTAL, "..", "dist");

const ASSETS_MARKER = "<!-- medshare:assets -->";

/** A built file: its path inside the bundle (forward slashes) and its bytes. */
export interface BuiltFile {
  path: string;
  contents: Uint8Array;
}

function sri(b: Uint8Array): string {
  return "sha384-" + createHash("sha384").update(b).digest("base64");
}

function contentHash(b: Uint8Array): string {
  // Eight characters of the SHA-256, in the alphabet esbuild's own [hash] uses.
  return createHash("sha256").update(b).digest("base64url").slice(0, 8).replace(/[-_]/g, "0").toUpperCase();
}

/** Builds the bundle in memory: index.html, assets/app-HASH.js, assets/app-HASH.css, assets/icon-HASH.svg. */
export async function buildPortal(): Promise<BuiltFile[]> {
  const result = await build({
    absWorkingDir: PORTAL,
    entryPoints: [
      { in: "src/main.ts", out: "app" },
      { in: "src/styles.css", out: "app" },
    ],
    outdir: "out",
    entryNames: "assets/[name]-[hash]",
    bundle: true,
    format: "esm",
    platform: "browser",
    target: ["es2022", "chrome110", "firefox115", "safari16"],
    minify: true,
    sourcemap: false,
    legalComments: "eof",
    charset: "utf8",
    tsconfig: "tsconfig.json",
    write: false,
    metafile: true,
    logLevel: "silent",
  });
  if (result.errors.length > 0) throw new Error(result.errors.map((e) => e.text).join("\n"));
  const files: BuiltFile[] = [];
  let js = "";
  let css = "";
  for (const f of result.outputFiles) {
    const path = relative(join(PORTAL, "out"), f.path).split("\\").join("/");
    files.push({ path, contents: f.contents });
    if (path.endsWith(".js")) js = path;
    if (path.endsWith(".css")) css = path;
  }
  if (!js || !css) throw new Error("esbuild wrote no script or no stylesheet");
  const byPath = new Map(files.map((f) => [f.path, f.contents]));

  const icon = readFileSync(join(PORTAL, "src", "icon.svg"));
  const iconPath = `assets/icon-${contentHash(icon)}.svg`;
  files.push({ path: iconPath, contents: icon });

  const template = readFileSync(join(PORTAL, "src", "index.html"), "utf8");
  if (!template.includes(ASSETS_MARKER)) throw new Error(`src/index.html has no ${ASSETS_MARKER}`);
  const tags = [
    `<link rel="icon" href="${iconPath}" type="image/svg+xml">`,
    `<link rel="stylesheet" href="${css}" integrity="${sri(byPath.get(css)!)}" crossorigin="anonymous">`,
    `<script type="module" src="${js}" integrity="${sri(byPath.get(js)!)}" crossorigin="anonymous"></script>`,
  ].join("\n");
  files.push({ path: "index.html", contents: new TextEncoder().encode(template.replace(ASSETS_MARKER, tags)) });
  files.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  return files;
}

/** Every file under dir, as bundle paths, sorted. */
export function listFiles(dir: string, prefix = ""): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = prefix ? `${prefix}/${e.name}` : e.name;
    if (e.isDirectory()) out.push(...listFiles(join(dir, e.name), p));
    else out.push(p);
  }
  return out.sort();
}

/** Writes a fresh bundle into outDir, removing whatever was there. */
export async function writePortal(outDir: string): Promise<BuiltFile[]> {
  const files = await buildPortal();
  rmSync(outDir, { recursive: true, force: true });
  for (const f of files) {
    const p = join(outDir, ...f.path.split("/"));
    mkdirSync(dirname(p), { recursive: true });
    writeFileSync(p, f.contents);
  }
  return files;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const out = resolve(process.argv[2] ?? DIST);
  const files = await writePortal(out);
  for (const f of files) console.log(`${f.path}\t${f.contents.length} bytes`);
}
