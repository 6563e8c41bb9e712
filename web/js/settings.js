/**
 * settings.js: the desk's display settings in the header, kept in localStorage:
 * - time zone (`signalgate.tz`): *exchange* time, the zone of the bars (`--bars-timezone`, read
 *   from `GET /api/config`), or the browser's *local* time. Every time on the page follows it,
 *   and the zone is named next to the times (elements with `data-zone`);
 * - colours of direction (`signalgate.updown`): green up / red down, or red up / green down as
 *   Chinese futures desks read them (candles, price moves, lights, signal markers).
 */
import { setDisplayZone, zoneLabel } from "./util.js";
import * as prefs from "./prefs.js";

const localZone = () => Intl.DateTimeFormat().resolvedOptions().timeZone ?? "local";

export class Settings {
  /**
   * @param {{zone: HTMLSelectElement, updown: HTMLSelectElement, zoneLabels: () => Iterable<HTMLElement>}} nodes
   * @param {() => void} onChange a setting changed: redraw what shows times or colours
   */
  constructor(nodes, onChange) {
    Object.assign(this, nodes, { onChange });
    this.exchangeZone = null; // from /api/config
    this.zone.value = prefs.load("tz", "exchange") === "local" ? "local" : "exchange";
    this.updown.value = prefs.load("updown", "green") === "red" ? "red" : "green";
    this.zone.addEventListener("change", () => { prefs.save("tz", this.zone.value); this._apply(); this.onChange(); });
    this.updown.addEventListener("change", () => { prefs.save("updown", this.updown.value); this._apply(); this.onChange(); });
    this._apply();
  }

  /** Reads the bars' zone from the gateway (an older one without /api/config: local time only). */
  async loadConfig(read) {
    try {
      const cfg = await read();
      if (typeof cfg?.bars_timezone === "string" && cfg.bars_timezone) this.exchangeZone = cfg.bars_timezone;
    } catch (err) {
      console.warn("config:", err.message);
    }
    this._apply();
    this.onChange();
  }

  /** "exchange" or "local", as shown. */
  get zoneMode() {
    return this.exchangeZone && this.zone.value === "exchange" ? "exchange" : "local";
  }

  _apply() {
    const [exchange, local] = this.zone.options;
    exchange.textContent = `Exchange (${this.exchangeZone ?? "unknown"})`;
    exchange.disabled = !this.exchangeZone;
    local.textContent = `Local (${localZone()})`;
    setDisplayZone(this.zoneMode === "exchange" ? this.exchangeZone : null);
    document.documentElement.dataset.updown = this.updown.value;
    for (const n of this.zoneLabels()) n.textContent = `times in ${zoneLabel()}`;
  }
}
