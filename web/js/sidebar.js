/**
 * sidebar.js: every variant with its instances, freshness and a compact count of its lights,
 * from the gateway's overview (one summary per variant, see app.js) or, against an older
 * gateway, from the variants' snapshots. A search box, a filter (favourites, stale, lights on)
 * and favourites (☆/★, localStorage `signalgate.favourites`, listed first) narrow long lists.
 * Entries are links (`?variant=...`), so a view can be opened in a new tab or shared.
 */
import { el, ago, LIGHTS, instrumentsOf, light, replaceKeepingFocus } from "./util.js";
import * as prefs from "./prefs.js";
import { isStale, staleAfterMs } from "./stale.js";

const SHORT = { dull_top: "dull ↑", dull_bottom: "dull ↓", div_top: "div ↑", div_bottom: "div ↓" };

/** Counts of lights that are on: the overview's, else over every instrument of every snapshot. */
export function lightCounts(v) {
  if (v.lights && typeof v.lights === "object" && !(v.snapshots?.size)) return Object.fromEntries(LIGHTS.map((l) => [l, Number(v.lights[l]) || 0]));
  const counts = Object.fromEntries(LIGHTS.map((l) => [l, 0]));
  for (const s of v.snapshots?.values() ?? []) for (const i of instrumentsOf(s.payload)) for (const l of LIGHTS) counts[l] += light(i, l) ? 1 : 0;
  return counts;
}

/** The newest snapshot time of `v` and its bar interval/window. */
export function freshness(v) {
  const snaps = [...(v.snapshots?.values() ?? [])].sort((a, b) => String(a.updated_at).localeCompare(String(b.updated_at)));
  const newest = snaps.at(-1);
  const updatedAt = [newest?.updated_at, v.updated_at].filter(Boolean).sort().at(-1) ?? null;
  return { updatedAt, barInterval: newest?.bar_interval ?? v.bar_interval ?? null, barWindow: newest?.bar_window ?? v.bar_window ?? null };
}

/** Whether `v` is stale now, and its threshold. */
export function staleness(v, now = Date.now()) {
  const f = freshness(v);
  const afterMs = staleAfterMs(v.variant, f.barInterval, f.barWindow);
  return { stale: f.updatedAt ? isStale(f.updatedAt, afterMs, now) : false, afterMs, ...f };
}

export class Sidebar {
  /**
   * @param {{list: HTMLUListElement, search: HTMLInputElement, filter: HTMLSelectElement, count: HTMLElement}} nodes
   * @param {(variant: string) => void} onSelect
   */
  constructor({ list, search, filter, count }, onSelect) {
    Object.assign(this, { list, search, filter, count, onSelect });
    this.items = new Map(); // variant -> <li>
    this.favourites = new Set(prefs.load("favourites", []));
    this.variants = [];
    this.selected = null;
    search.addEventListener("input", () => this.render(this.variants, this.selected));
    filter.addEventListener("change", () => this.render(this.variants, this.selected));
  }

  /**
   * @param {{variant:string, instances:(string[]|number), updated_at:?string, snapshots:Map}[]} variants
   * @param {?string} selected
   */
  render(variants, selected) {
    this.variants = variants;
    this.selected = selected;
    if (variants.length === 0) {
      this.list.replaceChildren(el("li", { class: "muted" }, "No variants yet."));
      this.count.textContent = "";
      return;
    }
    const q = this.search.value.trim().toLowerCase();
    const f = this.filter.value;
    const shown = variants.filter((v) => {
      if (q && !v.variant.toLowerCase().includes(q)) return false;
      if (f === "favourites") return this.favourites.has(v.variant);
      if (f === "stale") return staleness(v).stale;
      if (f === "lights") return Object.values(lightCounts(v)).some((n) => n > 0);
      return true;
    });
    shown.sort((a, b) => Number(this.favourites.has(b.variant)) - Number(this.favourites.has(a.variant)) || a.variant.localeCompare(b.variant));
    const items = shown.map((v) => this._item(v, selected));
    if (items.length === 0) items.push(el("li", { class: "muted" }, "No variant matches."));
    replaceKeepingFocus(this.list, items);
    this.count.textContent = shown.length === variants.length ? `${variants.length}` : `${shown.length} of ${variants.length}`;
  }

  /** Updates one variant's entry in place (focus stays where it is). */
  update(v, selected) {
    const li = this.items.get(v.variant);
    if (li?.isConnected) this._fill(li, v, selected);
  }

  /** Updates every shown entry (the per-second tick). */
  tick() {
    for (const v of this.variants) this.update(v, this.selected);
  }

  _item(v, selected) {
    let li = this.items.get(v.variant);
    if (!li) {
      const href = `?variant=${encodeURIComponent(v.variant)}`;
      const link = el("a", {
        href,
        onclick: (e) => {
          if (e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
          e.preventDefault();
          this.onSelect(v.variant);
        },
      }, el("span", { class: "v-name" }), el("span", { class: "v-meta" }), el("span", { class: "v-lights" }));
      const star = el("button", { type: "button", class: "star", onclick: () => this._toggleFavourite(v.variant) });
      li = el("li", { dataset: { variant: v.variant } }, link, star);
      this.items.set(v.variant, li);
    }
    this._fill(li, v, selected);
    return li;
  }

  _toggleFavourite(name) {
    if (this.favourites.has(name)) this.favourites.delete(name);
    else this.favourites.add(name);
    prefs.save("favourites", [...this.favourites]);
    this.render(this.variants, this.selected);
    this.items.get(name)?.querySelector(".star")?.focus();
  }

  _fill(li, v, selected) {
    const link = li.firstChild;
    const { stale, updatedAt } = staleness(v);
    if (v.variant === selected) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
    const set = (sel, text) => { const n = link.querySelector(sel); if (n.textContent !== text) n.textContent = text; };
    set(".v-name", v.variant);
    const n = Array.isArray(v.instances) ? v.instances.length : (v.instances ?? v.snapshots?.size ?? 0);
    set(".v-meta", `${n} instance${n === 1 ? "" : "s"} · ${updatedAt ? `updated ${ago(updatedAt)}` : "no snapshot"}${stale ? " · stale" : ""}`);
    li.classList.toggle("stale", stale);
    const counts = lightCounts(v);
    set(".v-lights", LIGHTS.map((l) => `${SHORT[l]}${counts[l]}`).join("  "));
    link.querySelector(".v-lights").title = LIGHTS.map((l) => `${l} on: ${counts[l]}`).join(", ");
    const fav = this.favourites.has(v.variant);
    const star = li.querySelector(".star");
    star.textContent = fav ? "★" : "☆";
    star.setAttribute("aria-pressed", String(fav));
    star.setAttribute("aria-label", `Favourite ${v.variant}`);
  }
}
