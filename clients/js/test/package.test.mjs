// The package as a user gets it: the `exports` map resolves `signalgate-client` (from inside the
// package by self-reference, and from a scratch project after `npm install --install-links`), and
// the module is the very file the gateway embeds (src/web.rs serves clients/js/ at
// /signalgate-client.js).
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
const pkgDir = path.resolve(here, "..");

test("the exports map resolves the package by name (self-reference)", async () => {
  const byName = await import("signalgate-client");
  const byPath = await import("../signalgate-client.js");
  assert.equal(byName.SignalgateClient, byPath.SignalgateClient);
  assert.equal(byName.default, byPath.SignalgateClient);
});

test("package.json points at files that exist, with types", () => {
  const pkg = JSON.parse(readFileSync(path.join(pkgDir, "package.json"), "utf8"));
  assert.equal(pkg.name, "signalgate-client");
  assert.match(pkg.version, /^\d+\.\d+\.\d+$/);
  const dot = pkg.exports["."];
  for (const file of [dot.types, dot.import, ...pkg.files.filter((f) => f !== "README.md")]) {
    assert.ok(readFileSync(path.join(pkgDir, file)).length > 0, file);
  }
  const dts = readFileSync(path.join(pkgDir, dot.types), "utf8");
  for (const name of ["class SignalgateClient", "subscribe(", "unsubscribe(", "lastSeq(", "close()"]) {
    assert.ok(dts.includes(name), `the declarations name ${name}`);
  }
});

test("the gateway embeds this file", () => {
  const web = readFileSync(path.resolve(pkgDir, "../../src/web.rs"), "utf8");
  assert.match(web, /"signalgate-client\.js" in "clients\/js\/"/);
});

test("npm install --install-links <this folder> into a scratch project: the packed files and socket.io-client", () => {
  // --install-links packs the folder and installs it like a registry package (a plain folder
  // install outside the project only symlinks it, without its dependencies: docs/clients.md).
  const dir = mkdtempSync(path.join(tmpdir(), "sgc-pkg-"));
  try {
    writeFileSync(path.join(dir, "package.json"), JSON.stringify({ name: "scratch", private: true }));
    const npm = process.platform === "win32" ? "npm.cmd" : "npm";
    execFileSync(npm, ["install", "--install-links", "--prefer-offline", "--no-audit", "--no-fund", pkgDir],
      { cwd: dir, stdio: "pipe" });
    // Without options.io the helper loads socket.io-client itself: it must have been installed.
    const script = `
      const { SignalgateClient } = await import("signalgate-client");
      const client = new SignalgateClient("http://127.0.0.1:9", { socketOptions: { autoConnect: false } });
      for (let i = 0; i < 100 && !client.socket; i++) await new Promise((r) => setTimeout(r, 20));
      console.log(typeof client.socket?.connect);
      client.close();`;
    const out = execFileSync(process.execPath, ["--input-type=module", "-e", script], { cwd: dir, encoding: "utf8" });
    assert.equal(out.trim(), "function", "the client created its socket with the installed socket.io-client");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
