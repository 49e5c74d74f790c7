// The committed bundle (web/dist, embedded into medshare) is exactly what a
// fresh build of these sources makes: a change to the portal without `make
// web`, or a hand-edited web/dist, fails here.

import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";

import { DIST, buildPortal, listFiles } from "../tools/build.js";

test("web/dist is a fresh build of web/portal, byte for byte (run `make web` after changing the portal)", async () => {
  const fresh = await buildPortal();
  assert.deepEqual(listFiles(DIST), fresh.map((f) => f.path), "the files of web/dist");
  for (const f of fresh) {
    const committed = readFileSync(join(DIST, ...f.path.split("/")));
    assert.ok(Buffer.from(f.contents).equals(committed), `web/dist/${f.path} differs from a fresh build`);
  }
});

test("the build is reproducible: two builds give the same bytes, with content-hashed names and SRI", async () => {
  const [a, b] = [await buildPortal(), await buildPortal()];
  assert.deepEqual(
    a.map((f) => [f.path, Buffer.from(f.contents).toString("base64")]),
    b.map((f) => [f.path, Buffer.from(f.contents).toString("base64")]),
  );
  const index = new TextDecoder().decode(a.find((f) => f.path === "index.html")!.contents);
  const assets = a.filter((f) => f.path.startsWith("assets/"));
  assert.equal(assets.length, 3);
  for (const f of assets) {
    assert.match(f.path, /^assets\/(app|icon)-[A-Z0-9]{8}\.(js|css|svg)$/);
    assert.ok(index.includes(`"${f.path}"`), `index.html references ${f.path}`);
  }
  assert.equal((index.match(/integrity="sha384-[A-Za-z0-9+/]{64}"/g) ?? []).length, 2, "the script and the stylesheet carry SRI");
  assert.doesNotMatch(index, /<script(?![^>]*\bsrc=)/, "no inline script");
  assert.doesNotMatch(index, /<style|\sstyle=/, "no inline style");
  for (const f of assets.filter((x) => !x.path.endsWith(".svg"))) {
    const text = new TextDecoder().decode(f.contents);
    assert.ok(!text.includes(join("/", "web", "portal")) && !text.includes("/home/") && !text.includes("/work/"), `${f.path} holds no absolute path`);
    assert.doesNotMatch(text, /localStorage/, `${f.path} never touches localStorage`);
    assert.doesNotMatch(text, /\binnerHTML\b|\bouterHTML\b|insertAdjacentHTML|document\.write/, `${f.path} never writes HTML strings`);
  }
});
