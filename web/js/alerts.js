/**
 * alerts.js: alerts that reach a person. For `signal` and `alert` events the desk chooses, per
 * variant and per type, whether they go to the in-page alert list, sound a beep (WebAudio, no
 * sound file) and/or raise a desktop notification (the Notification API; permission is asked
 * only when the desk ticks the box, a click). Settings: localStorage `signalgate.alerts.<variant>`.
 *
 * A strategy whose newest snapshot is older than its threshold (stale.js) is a stale alarm: the
 * header counts the stale variants, and a variant turning stale while the page is open adds an
 * entry to the list (and beeps if its `alert` sound is on). Entries stay until acknowledged.
 */
import { el, localTime, zoneLabel } from "./util.js";
import * as prefs from "./prefs.js";
import { customStaleMinutes, setCustomStaleMinutes, defaultStaleMs, describeMs } from "./stale.js";

export const ALERT_TYPES = ["signal", "alert"];
const CHANNELS = [["list", "List"], ["sound", "Sound"], ["notify", "Desktop"]];
const DEFAULTS = { signal: { list: false, sound: false, notify: false }, alert: { list: true, sound: false, notify: false } };
/** Entries kept in the list (the oldest unacknowledged ones are dropped beyond). */
const MAX_ENTRIES = 200;

/** The alert settings of `variant`: {signal: {list, sound, notify}, alert: {...}}. */
export function settingsOf(variant) {
  const stored = prefs.load(`alerts.${variant}`, {});
  const out = {};
  for (const t of ALERT_TYPES) out[t] = { ...DEFAULTS[t], ...(stored && typeof stored[t] === "object" ? stored[t] : {}) };
  return out;
}

export class AlertCenter {
  /**
   * @param {{panel: HTMLElement, list: HTMLOListElement, settings: HTMLElement, header: HTMLButtonElement}} nodes
   * @param {(variant: string) => void} onOpen an entry's variant link was used
   */
  constructor(nodes, onOpen) {
    Object.assign(this, nodes, { onOpen });
    this.entries = []; // {id, variant, kind, text, at}
    this.nextId = 1;
    this.stale = new Set(); // variants stale at the last check
    this.checked = false; // the first stale check is done (no alarms for what was already stale)
    this.audio = null;
    this.sent = { beeps: 0, notifications: 0 }; // for tests
    this.variant = null;
    this.panel.querySelector("[data-ack-all]")?.addEventListener("click", () => this.acknowledge(null));
    this.header.addEventListener("click", () => {
      this.panel.scrollIntoView({ block: "nearest" });
      (this.list.querySelector("button") ?? this.panel.querySelector("summary"))?.focus();
    });
    this._draw();
  }

  /** A live event of `variant` (the selected one's events, or another's latest from the overview). */
  onEvent(variant, ev) {
    if (!ALERT_TYPES.includes(ev?.event_type)) return;
    const s = settingsOf(variant)[ev.event_type];
    if (!s.list && !s.sound && !s.notify) return;
    const p = ev.payload ?? {};
    const what = ev.event_type === "signal" ? [p.signal_type, p.reason].filter(Boolean).join(" · ") : String(p.message ?? p.alert_type ?? "");
    const text = `${ev.event_type} ${ev.vt_symbol ?? ""}${what ? `: ${what}` : ""}`;
    this._add({ variant, kind: ev.event_type, text, at: ev.created_at ?? new Date().toISOString() }, s);
  }

  /**
   * The stale check (every second): `staleNow` = variants now stale, with `{after}` ms thresholds.
   * A variant that turns stale after the first check raises an alarm.
   */
  checkStale(staleNow) {
    for (const [variant, afterMs] of staleNow) {
      if (this.stale.has(variant) || !this.checked) continue;
      const s = settingsOf(variant).alert;
      this._add({ variant, kind: "stale", text: `stale: no snapshot for over ${describeMs(afterMs)}`, at: new Date().toISOString() },
        { list: true, sound: s.sound, notify: s.notify });
    }
    this.stale = new Set(staleNow.keys());
    this.checked = true;
    this._header();
  }

  /** Shows the settings of `variant` (the selected one) with its snapshots' bar interval. */
  showSettings(variant, barInterval, barWindow) {
    const key = `${variant}|${barInterval}|${barWindow}`;
    if (this.settingsKey === key) return;
    this.settingsKey = key;
    this.variant = variant;
    const s = settingsOf(variant);
    const rows = ALERT_TYPES.map((t) => el("tr", {},
      el("th", { scope: "row" }, t),
      CHANNELS.map(([ch, name]) => el("td", {}, el("input", {
        type: "checkbox", checked: s[t][ch], "aria-label": `${name} for ${t} events of ${variant}`, dataset: { type: t, channel: ch },
        onchange: (e) => this._setting(variant, t, ch, e.target.checked),
      })))));
    const custom = customStaleMinutes(variant);
    const def = defaultStaleMs(barInterval, barWindow);
    this.settings.replaceChildren(
      el("table", { class: "alert-settings" },
        el("caption", { class: "visually-hidden" }, `Alert settings of ${variant}`),
        el("thead", {}, el("tr", {}, el("th", { scope: "col" }, "Event"), CHANNELS.map(([, n]) => el("th", { scope: "col" }, n)))),
        el("tbody", {}, rows)),
      el("p", {}, el("label", { for: "stale-minutes" }, "Stale after (minutes) "),
        el("input", {
          id: "stale-minutes", type: "number", min: "0.1", step: "any", inputmode: "decimal", value: custom ?? "",
          placeholder: String(Math.round(def / 60_000)), "aria-describedby": "stale-hint",
          onchange: (e) => {
            const n = Number(e.target.value);
            setCustomStaleMinutes(variant, Number.isFinite(n) && n > 0 ? n : null);
            this.onStaleSetting?.();
          },
        }),
        el("span", { id: "stale-hint", class: "muted small" }, ` default ${describeMs(def)}: three bars of ${barInterval ?? "1m"}${barWindow > 1 ? ` × ${barWindow}` : ""}`)));
  }

  /** Redraws the list (another time zone). */
  redraw() {
    this._draw();
  }

  /** Removes entry `id` (null: every entry) and keeps the focus in the panel. */
  acknowledge(id) {
    this.entries = id == null ? [] : this.entries.filter((e) => e.id !== id);
    this._draw();
    (this.list.querySelector("button") ?? this.panel.querySelector("summary"))?.focus();
  }

  _setting(variant, type, channel, on) {
    const s = settingsOf(variant);
    s[type][channel] = on;
    prefs.save(`alerts.${variant}`, s);
    if (on && channel === "sound") this._audio(); // created on this click, so the browser allows it
    if (on && channel === "notify" && typeof Notification !== "undefined" && Notification.permission === "default") {
      Notification.requestPermission().catch(() => {});
    }
  }

  _add(entry, how) {
    entry.id = this.nextId++;
    if (how.list || how.sound || how.notify) {
      this.entries.unshift(entry);
      this.entries.length = Math.min(this.entries.length, MAX_ENTRIES);
      this._draw();
    }
    if (how.sound) this._beep();
    if (how.notify) this._notify(entry);
  }

  _audio() {
    const Ctx = globalThis.AudioContext ?? globalThis.webkitAudioContext;
    if (!this.audio && Ctx) this.audio = new Ctx();
    if (this.audio?.state === "suspended") this.audio.resume().catch(() => {});
    return this.audio;
  }

  /** A short two-tone beep (no sound file needed). */
  _beep() {
    this.sent.beeps++;
    const ctx = this._audio();
    if (!ctx) return;
    const gain = ctx.createGain();
    gain.connect(ctx.destination);
    gain.gain.value = 0.15;
    [880, 660].forEach((f, i) => {
      const osc = ctx.createOscillator();
      osc.frequency.value = f;
      osc.connect(gain);
      osc.start(ctx.currentTime + i * 0.16);
      osc.stop(ctx.currentTime + i * 0.16 + 0.14);
    });
  }

  _notify(entry) {
    if (typeof Notification === "undefined" || Notification.permission !== "granted") return;
    try {
      const n = new Notification(`${entry.variant}: ${entry.kind}`, { body: entry.text, tag: `sg-${entry.id}` });
      n.onclick = () => { focus(); this.onOpen(entry.variant); };
      this.sent.notifications++;
    } catch (err) {
      console.warn("notification:", err);
    }
  }

  _draw() {
    const items = this.entries.map((e) => el("li", { class: `alert-entry kind-${e.kind}`, dataset: { id: e.id, variant: e.variant, kind: e.kind } },
      el("span", { class: "ev-time" }, `${localTime(e.at).slice(5)} `),
      el("a", { href: `?variant=${encodeURIComponent(e.variant)}`, onclick: (ev) => { ev.preventDefault(); this.onOpen(e.variant); } }, e.variant),
      ` ${e.text} `,
      el("button", { type: "button", class: "small-btn", "aria-label": `Acknowledge ${e.variant} ${e.kind}`, onclick: () => this.acknowledge(e.id) }, "Acknowledge")));
    if (items.length === 0) items.push(el("li", { class: "muted" }, "No unacknowledged alerts."));
    this.list.replaceChildren(...items);
    this.ackAll ??= this.panel.querySelector("[data-ack-all]");
    if (this.ackAll) this.ackAll.hidden = this.entries.length < 2;
    this.panel.querySelector("[data-zone]")?.replaceChildren(`times in ${zoneLabel()}`);
    this._header();
  }

  /** The header's alarm: "⚠ 2 stale · 3 alerts", hidden when all is well. */
  _header() {
    const n = this.entries.length, s = this.stale.size;
    const parts = [s ? `${s} stale` : null, n ? `${n} alert${n === 1 ? "" : "s"}` : null].filter(Boolean);
    this.header.hidden = parts.length === 0;
    const text = `⚠ ${parts.join(" · ")}`;
    if (this.header.textContent !== text) this.header.textContent = text;
    this.header.title = s ? `Stale: ${[...this.stale].slice(0, 20).join(", ")}${s > 20 ? " …" : ""}` : "";
  }
}
