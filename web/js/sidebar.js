/**
 * sidebar.js: every variant with its instances, freshness and a compact count of its lights.
 * Entries are links (`?variant=...`), so a view can be opened in a new tab or shared.
 */
import { el, ago, LIGHTS, instrumentsOf, light, replaceKeepingFocus } from "./util.js";
import { isStale } from "./table.js";

const SHORT = { dull_top: "dull ↑", dull_bottom: "dull ↓", div_top: "div ↑", div_bottom: "div ↓" };

/** Counts of lights that are on, over every instrument of every instance. */
function lightCounts(snapshots) {
  const counts = Object.fromEntries(LIGHTS.map((l) => [l, 0]));
  for (const s of snapshots) for (const i of instrumentsOf(s.payload)) for (const l of LIGHTS) counts[l] += light(i, l) ? 1 : 0;
  return counts;
}

export class Sidebar {
  /** @param {HTMLUListElement} list @param {(variant: string) => void} onSelect */
  constructor(list, onSelect) {
    Object.assign(this, { list, onSelect });
    this.items = new Map(); // variant -> <li>
  }

  /**
   * @param {{variant:string, instances:string[], updated_at:?string, snapshots:Map}[]} variants
   * @param {?string} selected
   */
  render(variants, selected) {
    if (variants.length === 0) {
      this.list.replaceChildren(el("li", { class: "muted" }, "No variants yet."));
      return;
    }
    replaceKeepingFocus(this.list, variants.map((v) => this._item(v, selected)));
  }

  /** Updates one variant's entry in place (focus stays where it is). */
  update(v, selected) {
    const li = this.items.get(v.variant);
    if (li) this._fill(li, v, selected);
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
      li = el("li", { dataset: { variant: v.variant } }, link);
      this.items.set(v.variant, li);
    }
    this._fill(li, v, selected);
    return li;
  }

  _fill(li, v, selected) {
    const link = li.firstChild;
    const snaps = [...(v.snapshots?.values() ?? [])];
    const latest = snaps.map((s) => s.updated_at).sort().at(-1) ?? v.updated_at;
    const stale = latest ? isStale(latest) : false;
    if (v.variant === selected) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
    link.querySelector(".v-name").textContent = v.variant;
    const n = v.instances?.length ?? snaps.length;
    link.querySelector(".v-meta").textContent =
      `${n} instance${n === 1 ? "" : "s"} · ${latest ? `updated ${ago(latest)}` : "no snapshot"}${stale ? " · stale" : ""}`;
    li.classList.toggle("stale", stale);
    const counts = lightCounts(snaps);
    const lights = link.querySelector(".v-lights");
    lights.textContent = LIGHTS.map((l) => `${SHORT[l]}${counts[l]}`).join("  ");
    lights.title = LIGHTS.map((l) => `${l} on: ${counts[l]}`).join(", ");
  }
}
