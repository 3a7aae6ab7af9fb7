// The counsellor console's callback worklist (the #callbacks section of staff.html): the
// requests of the counsellor's teams, topics and languages, earliest deadline first, urgent
// and overdue ones marked in words. Take one (exactly one counsellor gets it), call back,
// record what happened, or give it back. The list is read over REST (GET /api/callbacks)
// and read again, a moment later, whenever the broker says a team's list moved
// (`callbacks_changed` on /staff, handed in by staff.js).
//
// Calling back starts a session of kind `callback` (POST .../start): by video the customer's
// personal page rings and the console lets them in when they come (as an accepted drop-in);
// by phone the counsellor dials the number shown and says when the phone is connected, which
// begins the call in the console. The end of the call settles the request.

import { $, el, errorText, fetchJSON, show } from "./common.js";
import { language, t } from "./i18n.js";
import { clockTime, keepFocus, say, shortWhen, topicWord } from "./staffkit.js";

const SOON_MS = 300; // several changes in a row: one read
const EVERY_MS = 60000; // deadlines pass and claims run out without anyone saying so
const OUTCOMES = ["reached", "not_reached", "wrong_number"];

export class CallbackWorklist {
  /**
   * `token()` is the staff token for REST; `sessionOf(id)` the console's live view of a
   * session; `started(session, reach)` puts a callback's new session into the console;
   * `phoneConnected(id)` tells the broker the phone call runs; `fail(error)` shows an error
   * the worklist cannot say itself (an expired sign-in).
   */
  constructor({ token, sessionOf, started, phoneConnected, fail }) {
    this.token = token;
    this.sessionOf = sessionOf;
    this.started = started;
    this.phoneConnected = phoneConnected;
    this.fail = fail;
    this.items = [];
    this.enabled = false;
    this.skew = 0; // the broker's clock minus ours, in seconds
    this.timer = null;
    this.busy = new Set(); // requests with an action on its way
    this.drawn = null; // what the list shows, to draw it again only when that changes
    this.calls = null; // the state of each request's call as last drawn
    this.section = $("#callbacks");
    this.list = $("#callback-list");
    this.note = $("#callbacks-note");
    this.list.addEventListener("click", (event) => {
      const b = event.target.closest("button[data-action]");
      if (b) this.act(b.dataset.callback, b.dataset.action);
    });
    $("#callbacks-refresh").addEventListener("click", () => this.refresh());
    setInterval(() => {
      if (this.enabled) this.refresh();
    }, EVERY_MS);
  }

  now() {
    return Date.now() / 1000 + this.skew;
  }

  /** Read the list again in a moment (a burst of changes is one read). */
  soon() {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.refresh(), SOON_MS);
  }

  async refresh() {
    clearTimeout(this.timer);
    const result = await fetchJSON("GET", "/api/callbacks", { token: this.token() });
    if (!result.ok) {
      const code = result.error && result.error.code;
      if (code === "token_expired") this.fail(result.error);
      if (code === "forbidden" || code === "unauthenticated" || code === "token_expired") {
        this.enabled = false; // not a counsellor's list (or no sign-in): nothing to show
        this.render();
      }
      return;
    }
    this.items = result.data.callbacks || [];
    if (typeof result.data.now === "number") this.skew = result.data.now - Date.now() / 1000;
    this.enabled = true;
    this.render();
  }

  find(id) {
    return this.items.find((i) => i.callback === id) || null;
  }

  /** "Leistungen/Bürgergeld, Deutsch" (and the team where the counsellor has several). */
  what(item) {
    const parts = [topicWord(item.topic), t(`lang.${item.language}`)];
    if (new Set(this.items.map((i) => i.team)).size > 1) parts.push(t("cbw.team", { team: item.team }));
    return parts.join(", ");
  }

  // ---------------------------------------------------------------- acting

  async act(id, action) {
    const item = this.find(id);
    if (!item || this.busy.has(id)) return;
    if (action === "phone-connected") {
      if (item.session) this.phoneConnected(item.session);
      return;
    }
    const what = this.what(item);
    const path = `/api/callbacks/${encodeURIComponent(id)}/`;
    const outcome = OUTCOMES.includes(action) ? action : null;
    this.busy.add(id);
    this.renderBusy();
    const result = await fetchJSON("POST", path + (outcome ? "attempts" : action), {
      token: this.token(),
      body: outcome ? { outcome } : undefined,
    });
    this.busy.delete(id);
    this.note.dataset.tone = result.ok ? "" : "warn";
    if (!result.ok) {
      this.refusal(result.error, action);
    } else if (action === "claim") {
      say(this.note, () => t("cbw.claimed", { what }));
    } else if (action === "release") {
      say(this.note, () => t("cbw.released", { what }));
    } else if (action === "start") {
      const session = result.data.session;
      this.started(session, item.reach);
      const phone = result.data.callback && result.data.callback.phone;
      say(this.note, () =>
        item.reach === "video" ? t("cbw.started_video") : t("cbw.started_phone", { phone }),
      );
    } else if (outcome) {
      say(this.note, () => t("cbw.recorded", { outcome: t(`cbw.outcome_${outcome}`), what }));
    }
    await this.refresh();
    this.focusAfter(id, action, result.ok);
  }

  refusal(error, action) {
    const code = error && error.code;
    if (code === "token_expired") this.fail(error);
    let text;
    if (code === "callback_taken") text = () => t(action === "claim" ? "cbw.taken" : "cbw.claim_lost");
    else if (code === "callback_settled") text = () => t("cbw.settled");
    else text = () => errorText(error);
    say(this.note, text);
  }

  /** After an action the next step has the focus; a request gone from the list: the title. */
  focusAfter(id, action, ok) {
    const active = document.activeElement;
    if (active && active !== document.body && !this.list.contains(active) &&
        active.id !== "callbacks-refresh") {
      return; // the counsellor is elsewhere already (the call took the focus, say)
    }
    const next = ok && action === "claim" ? "start" : action;
    const mark = (a) =>
      this.list.querySelector(`[data-callback="${CSS.escape(id)}"][data-action="${a}"]`);
    const target = mark(next) || mark(action) || this.list.querySelector(
      `li[data-callback="${CSS.escape(id)}"] button`,
    );
    if (target) target.focus();
    else if (!this.list.contains(document.activeElement)) $("#callbacks-title").focus();
  }

  // ---------------------------------------------------------------- drawing

  render() {
    show(this.section, this.enabled);
    if (!this.enabled) return;
    const now = this.now();
    const calls = {}; // request -> the state of its call, if it has one
    for (const i of this.items) {
      const session = i.session ? this.sessionOf(i.session) : null;
      calls[i.callback] = session ? session.state : null;
    }
    const was = this.calls;
    if (was && Object.keys(calls).some((id) => calls[id] === "active" && was[id] !== "active")) {
      say(this.note, ""); // "dial now" or "it rings" is over: the call runs
    }
    this.calls = calls;
    // drawn again only when something shown changed: a focused button is not re-announced
    const drawn = JSON.stringify([
      language(),
      this.items,
      [...this.busy],
      calls,
      this.items.map((i) => i.deadline <= now),
    ]);
    if (drawn !== this.drawn) {
      this.drawn = drawn;
      keepFocus(this.list, () => this.list.replaceChildren(...this.items.map((i) => this.row(i, now))),
        "callback");
    }
    show($("#callbacks-empty"), this.items.length === 0);
    const open = this.items.length;
    const overdue = this.items.filter((i) => i.deadline <= now).length;
    const parts = [];
    if (open) parts.push(open === 1 ? t("cbw.summary_one") : t("cbw.summary_many", { count: open }));
    if (overdue) parts.push(t("cbw.summary_overdue", { count: overdue }));
    $("#callbacks-summary").textContent = parts.join(", ");
  }

  renderBusy() {
    for (const b of this.list.querySelectorAll("button[data-action]")) {
      b.setAttribute("aria-disabled", String(this.busy.has(b.dataset.callback)));
    }
  }

  row(item, now) {
    const li = el("li", null, "callback-item");
    li.dataset.callback = item.callback;
    li.dataset.state = item.state;
    const overdue = item.deadline <= now;
    li.classList.toggle("overdue", overdue);
    li.classList.toggle("urgent", !!item.urgent);
    const headId = `callback-${item.callback}`;
    const head = el("h3", null, "callback-head");
    head.id = headId;
    head.append(el("span", this.what(item)));
    if (item.urgent) head.append(" ", el("span", t("cbw.urgent"), "badge badge-urgent"));
    if (overdue) head.append(" ", el("span", t("cbw.overdue"), "badge badge-overdue"));
    li.append(head);

    const when = shortWhen(item.deadline);
    li.append(el("p", overdue ? t("cbw.overdue_since", { when }) : t("cbw.due", { when }),
      overdue ? "callback-due late" : "callback-due"));
    const mine = item.state === "mine";
    const dial = mine && item.reach === "phone" && !!item.phone; // the number as a link below
    const how = [item.reach === "video" ? t("cbw.reach_video")
      : dial ? t("cbw.by_phone") : t("cbw.reach_phone", { phone: item.phone || "…" })];
    if (Array.isArray(item.window) && item.window.length === 2) {
      how.push(t("cbw.window", {
        window: `${shortWhen(item.window[0])}–${clockTime(item.window[1])}`,
      }));
    }
    li.append(el("p", how.join(" · "), "callback-how"));
    const tries = [];
    if (item.attempts) {
      let line = t("cbw.attempts", { count: item.attempts });
      if (item.last_outcome) {
        line += ` (${t("cbw.last_outcome", { outcome: t(`cbw.outcome_${item.last_outcome}`) })})`;
      }
      tries.push(line);
    }
    tries.push(item.state === "mine" ? t("cbw.state_mine", { time: clockTime(item.claim_until) })
      : t(`cbw.state_${item.state}`));
    li.append(el("p", tries.join(" · "), `callback-state state-${item.state}`));

    if (dial) {
      const number = el("a", item.phone, "phone-number");
      number.href = `tel:${item.phone}`;
      number.setAttribute("aria-describedby", headId);
      const line = el("p", null, "callback-phone");
      line.append(number);
      li.append(line);
    }
    const session = mine && item.session ? this.sessionOf(item.session) : null;
    const inCall = !!session && session.state === "active";
    if (mine && item.session) {
      const hint = inCall ? "cbw.in_call" : item.reach === "video" ? "cbw.ringing" : "cbw.dial";
      li.append(el("p", t(hint), "callback-hint"));
    }

    const buttons = [];
    const button = (action, key, className) => {
      const b = el("button", t(key), className);
      b.type = "button";
      b.dataset.action = action;
      b.dataset.callback = item.callback;
      b.setAttribute("aria-describedby", headId);
      b.setAttribute("aria-disabled", String(this.busy.has(item.callback)));
      buttons.push(b);
    };
    if (item.state === "open") button("claim", "cbw.claim");
    if (mine && !item.session) {
      button("start", "cbw.start");
      button("release", "cbw.release", "secondary");
    }
    if (mine && item.session && item.reach === "phone" && !inCall) {
      button("phone-connected", "staff.phone_connected");
    }
    if (mine && !inCall) {
      if (!item.session) button("reached", "cbw.reached", "secondary");
      button("not_reached", "cbw.not_reached", "secondary");
      if (item.reach === "phone") button("wrong_number", "cbw.wrong_number", "secondary");
    }
    if (buttons.length) {
      const actions = el("div", null, "row-actions");
      actions.append(...buttons);
      li.append(actions);
    }
    return li;
  }
}
