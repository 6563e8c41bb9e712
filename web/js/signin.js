/**
 * signin.js: the token entry shown when the gateway needs a token (auth.js says when). A form
 * with a labelled password-type input: the token is checked against `/api/variants` before it
 * is stored, so a bad or expired token is answered on the spot with the gateway's reason.
 */
import { normalizeToken, refusal, refusalText, setToken } from "./auth.js";

export class TokenEntry {
  /**
   * @param {{section: HTMLElement, form: HTMLFormElement, input: HTMLInputElement,
   *   error: HTMLElement}} els
   * @param {(token: string) => Promise<void>} check resolves when the gateway accepts the
   *   token; rejects with the API's error (`status`, `message`) otherwise
   */
  constructor(els, check) {
    Object.assign(this, els, { check });
    this.waiters = [];
    this.form.addEventListener("submit", (e) => {
      e.preventDefault();
      this._submit();
    });
  }

  /** Whether the token entry is on screen. */
  get active() {
    return !this.section.hidden;
  }

  /**
   * Shows the form with `message` (a refusal from the gateway, or null); resolves once a token
   * was accepted and stored.
   */
  show(message) {
    const wasActive = this.active;
    this.section.hidden = false;
    // A missing token after a refusal (e.g. a retried connect) keeps the reason on screen.
    if (!wasActive || refusal(message) !== "missing") this._error(message ? refusalText(message) : null);
    if (!wasActive) this.input.focus();
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  async _submit() {
    const tok = normalizeToken(this.input.value);
    if (!tok) {
      this._error("Paste a token: the text `signalgate token` printed, starting with “ey”.");
      this.input.focus();
      return;
    }
    const button = this.form.querySelector("button[type=submit]");
    button.disabled = true;
    try {
      await this.check(tok);
    } catch (err) {
      this._error(err.status === 401 ? refusalText(err.message) : `The token could not be checked: ${err.message}`);
      this.input.select();
      return;
    } finally {
      button.disabled = false;
    }
    setToken(tok);
    this.input.value = "";
    this._error(null);
    this.section.hidden = true;
    for (const resolve of this.waiters.splice(0)) resolve(tok);
  }

  _error(text) {
    this.error.textContent = text ?? "";
    this.error.hidden = !text;
    if (text) this.input.setAttribute("aria-invalid", "true");
    else this.input.removeAttribute("aria-invalid");
  }
}
