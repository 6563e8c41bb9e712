// Unit tests of the dashboard's token helpers (web/js/auth.js): what a pasted token becomes,
// the header and handshake it gives, and how the gateway's refusals (docs/security.md) read.
import { test } from "node:test";
import assert from "node:assert/strict";
import { handshake, normalizeToken, refusal, refusalText, withBearer } from "../js/auth.js";

test("a pasted token loses surrounding whitespace and a leading Bearer", () => {
  assert.equal(normalizeToken("  eyJa.b.c\n"), "eyJa.b.c");
  assert.equal(normalizeToken("Bearer eyJa.b.c"), "eyJa.b.c");
  assert.equal(normalizeToken("bearer   eyJa.b.c "), "eyJa.b.c");
  for (const bad of ["", "   ", null, undefined, "Bearer ", "eyJa b.c"]) assert.equal(normalizeToken(bad), null, String(bad));
});

test("the bearer header and the handshake only carry a token when there is one", () => {
  assert.deepEqual(withBearer({ Accept: "application/json" }, "t0k"), { Accept: "application/json", Authorization: "Bearer t0k" });
  assert.deepEqual(withBearer({ Accept: "application/json" }, null), { Accept: "application/json" });
  assert.deepEqual(handshake("t0k"), { token: "t0k" });
  assert.deepEqual(handshake(null), {});
});

test("the gateway's refusals are told apart from other connection errors", () => {
  assert.equal(refusal("authentication required: send a bearer token"), "missing");
  assert.equal(refusal("token expired"), "expired");
  assert.equal(refusal("the token expired; reconnect with a fresh one"), "expired");
  assert.equal(refusal("invalid token: bad signature"), "invalid");
  for (const other of ["xhr poll error", "websocket error", "origin not allowed: http://x", "too many connections: this instance accepts 1; retry later or elsewhere", "", null]) {
    assert.equal(refusal(other), null, String(other));
  }
});

test("what the token entry says: nothing for a missing token, the reason otherwise", () => {
  assert.equal(refusalText("authentication required: send a bearer token"), null);
  assert.match(refusalText("token expired"), /expired/);
  assert.equal(refusalText("invalid token: bad signature"), "The gateway refused the token: invalid token: bad signature");
});
