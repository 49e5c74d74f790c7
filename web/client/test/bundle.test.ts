// The client bundles for the browser with esbuild (as the portal will use
// it): no Node built-in is reachable from it, and the bundle works on its own.

import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { fileURLToPath, pathToFileURL } from "node:url";

import { build } from "esbuild";

const ENTRY = fileURLToPath(new URL("../../src/index.ts", import.meta.url));

test("bundles for the browser with esbuild, without Node built-ins, and works as a bundle", async (t) => {
  const result = await build({
    entryPoints: [ENTRY],
    bundle: true,
    format: "esm",
    platform: "browser",
    target: ["es2022"],
    minify: true,
    write: false,
    metafile: true,
    logLevel: "silent",
  });
  assert.deepEqual(result.errors, []);
  const inputs = Object.keys(result.metafile.inputs);
  assert.ok(!inputs.some((p) => p.startsWith("node:")), "no Node built-in in the bundle");
  const code = result.outputFiles[0]!.contents;
  t.diagnostic(`minified bundle: ${(code.length / 1024).toFixed(0)} KiB`);

  const dir = mkdtempSync(join(tmpdir(), "medshare-bundle-"));
  try {
    const file = join(dir, "medshare-client.mjs");
    writeFileSync(file, code);
    const m = (await import(pathToFileURL(file).href)) as typeof import("../src/index.js");
    const key = await m.generateDataKey();
    const photo = new TextEncoder().encode("bundled");
    assert.deepEqual(await m.decryptPhoto(await m.encryptPhoto(photo, key), key), photo);
    for (const kem of m.KEMS) {
      const dev = await m.Device.create(kem);
      const info = m.keyInfo("ke", "ph", "ac");
      const sealed = await m.hpkeSeal(kem, dev.publicKey, info, photo);
      assert.deepEqual(await dev.open(sealed, info), photo, `kem ${kem}`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
