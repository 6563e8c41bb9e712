/**
 * connection.js: the always-visible connection state, driven by the socket.io socket and the
 * subscription acks: connecting → live; on a lost connection reconnecting (offline when the
 * browser is offline or the gateway stayed away for OFFLINE_AFTER_MS); after the reconnect,
 * once every subscription has been acked again, "resumed (n events caught up)", then live.
 * While the page waits for an access token it shows "Token needed" (signin.js).
 */

/** Reconnecting for longer than this is shown as offline (socket.io keeps retrying). */
const OFFLINE_AFTER_MS = 30_000;
/** How long "resumed" stays up before the state goes back to live. */
const RESUMED_FOR_MS = 10_000;

const TEXT = {
  connecting: "Connecting…",
  live: "Live",
  reconnecting: "Reconnecting…",
  offline: "Offline: retrying",
  signedout: "Token needed",
};

export class ConnectionStatus {
  /** @param {HTMLElement} box gets data-state @param {HTMLElement} text */
  constructor(box, text) {
    Object.assign(this, { box, text });
    this.state = "connecting";
    this.resuming = null; // {pending: Set<variant>, caught: number} during a resume
    this.lostAt = 0;
    this.timer = null;
  }

  /** Wires the socket's lifecycle; `variants()` lists the subscribed variants. */
  attach(socket, variants) {
    this.variants = variants;
    socket.on("disconnect", () => this._lost());
    socket.on("connect_error", () => { if (this.state !== "connecting") this._lost(); });
    socket.io.on("reconnect_attempt", (n) => { if (this.state === "reconnecting") this._show("reconnecting", `Reconnecting… (attempt ${n})`); });
    addEventListener("offline", () => this._show("offline", "Offline: no network"));
    addEventListener("online", () => { if (this.state === "offline") this._show("reconnecting", TEXT.reconnecting); });
    setInterval(() => {
      if (this.state === "reconnecting" && Date.now() - this.lostAt > OFFLINE_AFTER_MS) this._show("offline", TEXT.offline);
    }, 1000);
  }

  /** An event was delivered (counted while resuming). */
  event(variant) {
    if (this.resuming && this.resuming.counted === variant) this.resuming.caught++;
  }

  /** A subscription was acked (first time or after a reconnect). */
  ack(variant) {
    if (this.resuming) {
      this.resuming.pending.delete(variant);
      if (this.resuming.pending.size === 0) {
        const n = this.resuming.caught;
        this.resuming = null;
        this._show("resumed", `Resumed · ${n} event${n === 1 ? "" : "s"} caught up`);
        clearTimeout(this.timer);
        this.timer = setTimeout(() => { if (this.state === "resumed") this._show("live", TEXT.live); }, RESUMED_FOR_MS);
      }
    } else if (this.state === "connecting") {
      this._show("live", TEXT.live);
    }
  }

  /** Which variant's events count as "caught up" (the one on screen). */
  countFor(variant) {
    this.selected = variant;
    if (this.resuming) this.resuming.counted = variant;
  }

  /** The gateway needs a token: nothing is connected until one is entered. */
  signedOut() {
    this.resuming = null;
    this._show("signedout", TEXT.signedout);
  }

  /** A token was entered: connecting again. */
  connecting() {
    this._show("connecting", TEXT.connecting);
  }

  _lost() {
    if (this.state === "signedout" || (this.state === "connecting" && !this.resuming)) return;
    if (!this.resuming) {
      this.lostAt = Date.now();
      this.resuming = { pending: new Set(this.variants()), caught: 0, counted: this.selected };
    }
    if (this.state !== "offline" && this.state !== "reconnecting") this._show("reconnecting", TEXT.reconnecting);
  }

  _show(state, text) {
    this.state = state;
    this.box.dataset.state = state;
    document.body.dataset.conn = state; // dims the frozen values (app.css)
    this.text.textContent = text;
  }
}
