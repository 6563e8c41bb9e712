/**
 * bars.js: follows the chart's bar series over Socket.IO (`subscribe_bars` / `bar_update`).
 * One series at a time; it is subscribed again after every reconnect (the gateway forgets
 * subscriptions with the connection). The ack's latest bar and every pushed bar go to `onBar`.
 * `supported` turns false when the gateway refuses or does not answer (an older gateway), so
 * the page can fall back to re-reading bars over REST.
 */

/** How long a `subscribe_bars` ack may take before live bars count as unsupported. */
const ACK_TIMEOUT_MS = 10_000;

export class BarFeed {
  /** @param {object} socket a socket.io-client socket @param {(bar: object) => void} onBar */
  constructor(socket, onBar) {
    Object.assign(this, { socket, onBar });
    this.current = null; // {vt_symbol, interval}
    this.supported = null; // unknown until the first ack
    socket.on("bar_update", (m) => {
      if (this._isCurrent(m)) onBar(m.bar);
    });
    socket.on("connect", () => {
      if (this.current) this._subscribe(this.current);
    });
  }

  /** Follows `vtSymbol` at `interval` (and stops following the previous series). */
  follow(vtSymbol, interval) {
    if (this._isCurrent({ vt_symbol: vtSymbol, interval })) return;
    if (this.current && this.socket.connected) this.socket.emit("unsubscribe_bars", this.current, () => {});
    this.current = { vt_symbol: vtSymbol, interval };
    if (this.socket.connected) this._subscribe(this.current);
  }

  _subscribe(series) {
    this.socket.timeout(ACK_TIMEOUT_MS).emit("subscribe_bars", series, (err, ack) => {
      if (series !== this.current) return;
      if (err || !ack?.ok) {
        this.supported = false;
        console.warn("live bars unavailable:", err?.message ?? ack?.error?.message);
        return;
      }
      this.supported = true;
      if (ack.bar) this.onBar(ack.bar);
    });
  }

  _isCurrent(m) {
    const c = this.current;
    return Boolean(c && m && m.vt_symbol === c.vt_symbol && m.interval === c.interval);
  }
}
