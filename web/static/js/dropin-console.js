// The counsellor console's part in drop-ins (protocol 3.4): the presence control, the
// skills it routes by, the ringing offer (alert, ring tone, countdown) and the auto-admit of
// customers this tab accepted. staff.js owns the socket and hands events in; this module
// owns the #dropin and #dropin-offer sections of staff.html.

import { $, show } from "./common.js";
import { t } from "./i18n.js";
import { DROPIN_TOPICS, minSec, say, topicWord } from "./staffkit.js";
import { Ringer } from "./ringer.js";

const PRESENCE_KEY = "cb.dropin.presence"; // the counsellor's own choice, for this tab
const ACCEPTED_KEY = "cb.dropin.accepted"; // sessions this tab took from the queue
const KEEP_ACCEPTED = 20;
const LATE_MS = 5000; // no word from the broker this long after expiry: stop ringing anyway
const FRESH_SECONDS = 5; // younger tickets' pages are still opening (`present` is false)

function stored(key, fallback) {
  try {
    const raw = sessionStorage.getItem(key);
    return raw === null ? fallback : JSON.parse(raw);
  } catch {
    return fallback;
  }
}

function store(key, value) {
  try {
    sessionStorage.setItem(key, JSON.stringify(value));
  } catch {
    /* private mode: remembered for this page only */
  }
}

/**
 * The drop-in part of the console. `request(event, data)` sends with an ack, `fail(error)`
 * shows an error, `admit(id)` lets a waiting customer in (staff.js), `accepted(view)` puts a
 * new session into the list, `changed()` follows the start and end of ringing.
 */
export class DropinConsole {
  constructor({ chime, request, fail, admit, accepted, changed }) {
    this.changed = changed;
    this.request = request;
    this.fail = fail;
    this.admitSession = admit;
    this.onAccepted = accepted;
    this.ringer = new Ringer(chime);

    this.enabled = false;
    this.presence = null; // what the broker says: available | busy | wrap_up | away
    this.skills = null;
    this.chosen = stored(PRESENCE_KEY, null); // available | away, remembered per tab
    this.accepted = new Set(stored(ACCEPTED_KEY, []));
    this.admitting = new Set();

    this.offer = null; // {..., receivedAt (ms), deadline (ms, local clock)}
    this.sound = "off";
    this.busyHere = false; // accept or decline on its way
    this.tick = null;
    this.late = null;
    this.focusBefore = null;
    this.skew = 0; // server clock minus ours, in seconds (from the Date header)

    this.section = $("#dropin");
    this.alert = $("#dropin-offer");
    this.note = $("#dropin-note");

    for (const input of document.querySelectorAll("input[name='presence']")) {
      input.addEventListener("change", () => {
        if (input.checked) this.choose(input.value);
      });
    }
    $("#offer-accept").addEventListener("click", () => this.accept());
    $("#offer-decline").addEventListener("click", () => this.decline());
    this.alert.addEventListener("keydown", (event) => {
      // Enter anywhere in the alert accepts (on a button it is that button's own click)
      if (event.key === "Enter" && !event.target.closest("button")) {
        event.preventDefault();
        this.accept();
      }
    });
    // every click or key press may be the first one that allows sound: an offer that rings
    // silently gets its tone then (after the event, which may be the answer itself)
    const wake = () => {
      this.ringer.unlock();
      this.ringer.whenReady(() => {
        if (this.offer && this.sound === "blocked" && !this.busyHere) {
          this.sound = this.ringer.start();
          this.renderOffer();
        }
        if (this.enabled) this.renderSoundHints();
      });
    };
    window.addEventListener("pointerdown", () => setTimeout(wake, 0), true);
    window.addEventListener("keydown", () => setTimeout(wake, 0), true);
    document.addEventListener("keydown", (event) => {
      if (event.key !== "Escape" || !this.offer || this.busyHere) return;
      if (document.querySelector("dialog[open]")) return; // a confirmation is asked first
      event.preventDefault();
      this.decline();
    });
  }

  /** The broker's clock from a response's Date header (one-second steps). */
  setServerTime(dateHeader) {
    const at = Date.parse(dateHeader || "");
    if (!Number.isFinite(at)) return;
    const skew = (at - Date.now()) / 1000;
    this.skew = Math.abs(skew) > 2 ? skew : 0;
  }

  get ringing() {
    return this.offer !== null;
  }

  // ---------------------------------------------------------------- from the broker

  /** `welcome` (every connect) and `sync`: the whole drop-in state, or null when off. */
  fromWelcome(dropin) {
    const wanted = this.chosen;
    this.adopt(dropin, null);
    if (!dropin) return;
    // after a reconnect the broker may have restarted (or signed the last console out, which
    // makes it `away`): say again what the counsellor chose
    if (wanted === "available" && dropin.presence !== "available") {
      this.choose("available", { quiet: true });
    }
  }

  /** A `sync` answer; `sentAt` (ms) guards an offer that arrived after it was asked. */
  fromSync(dropin, sentAt) {
    this.adopt(dropin, sentAt);
  }

  adopt(dropin, sentAt) {
    this.enabled = !!dropin;
    if (!dropin) {
      this.presence = null;
      this.skills = null;
      this.end(null);
      this.render();
      return;
    }
    this.skills = dropin.skills || null;
    // `available` is only ever the counsellor's own choice (made in another tab, say);
    // `away` may be the broker's start after a restart, so it does not replace a choice
    if (dropin.presence === "available" || (this.chosen === null && dropin.presence === "away")) {
      this.remember(dropin.presence);
    }
    this.setPresence(dropin.presence, { fromSync: true });
    if (dropin.offer) {
      if (!this.offer || this.offer.ticket !== dropin.offer.ticket) this.ring(dropin.offer);
    } else if (this.offer && (sentAt === null || this.offer.receivedAt < sentAt)) {
      this.end("gone"); // ended while we were not listening
    }
    this.render();
  }

  /**
   * The broker's presence: from a `presence` event (this tab's choice, another tab's, or the
   * broker's: busy, wrap-up, away after an unanswered offer) or a `welcome`/`sync`. Only
   * events change the remembered choice: a welcome's `away` may just mean the broker has
   * restarted.
   */
  setPresence(presence, { fromSync = false } = {}) {
    if (!presence) return;
    this.presence = presence;
    if (!fromSync && (presence === "available" || presence === "away")) {
      this.remember(presence);
    }
    if (this.offer && presence !== "available" && !this.busyHere) {
      // an offer needs `available`: busy without a withdrawal means another tab took it
      // (while this tab's own answer is on its way, its acknowledgement tells the end)
      this.end(presence === "busy" && !fromSync ? "taken" : "gone");
    }
    this.render();
  }

  remember(choice) {
    this.chosen = choice;
    store(PRESENCE_KEY, choice);
  }

  /** `dropin_offer`: ring. */
  ring(offer) {
    const first = !this.offer;
    const receivedAt = Date.now();
    // the broker says its own time with the offer; the Date header's skew is the fallback
    const left = typeof offer.now === "number" ? offer.expires_at - offer.now
      : offer.expires_at - this.skew - receivedAt / 1000;
    this.offer = {
      ...offer,
      receivedAt,
      deadline: receivedAt + Math.max(0, Math.min(left, 600)) * 1000,
    };
    this.busyHere = false;
    if (first) {
      const active = document.activeElement;
      this.focusBefore = active && active !== document.body ? active : null;
    }
    say(this.note, "");
    this.note.dataset.tone = "";
    this.sound = this.ringer.start();
    clearInterval(this.tick);
    this.tick = setInterval(() => this.renderCountdown(), 250);
    this.armLate();
    this.render();
    this.changed();
    if (first) {
      this.alert.scrollIntoView({ block: "nearest" });
      $("#offer-accept").focus();
    }
  }

  armLate() {
    clearTimeout(this.late);
    const wait = this.offer.deadline + LATE_MS - Date.now();
    this.late = setTimeout(() => {
      if (this.offer) this.end("gone");
    }, Math.max(0, wait));
  }

  /** `dropin_withdrawn`: the offer ended without an accept. */
  withdrawn({ ticket, why }) {
    if (!this.offer || this.offer.ticket !== ticket) return;
    this.end(why);
  }

  /** An `offer_gone` refusal. */
  gone() {
    if (this.offer) this.end("gone");
  }

  /** The socket dropped: nothing can be answered until it is back. */
  disconnected() {
    if (this.offer) this.end("offline");
  }

  // ---------------------------------------------------------------- the counsellor acts

  async choose(presence, { quiet = false } = {}) {
    if (!quiet) this.ringer.unlock(); // a click or key: sound is allowed from now on
    this.remember(presence);
    this.render();
    const ack = await this.request("presence", { presence });
    if (!ack.ok) {
      if (!quiet) this.fail(ack.error);
      return;
    }
    this.skills = ack.skills || this.skills;
    this.setPresence(ack.presence);
    if (ack.offer && (!this.offer || this.offer.ticket !== ack.offer.ticket)) this.ring(ack.offer);
    if (!quiet) {
      this.note.dataset.tone = "";
      say(this.note, () =>
        presence === "available" ? t("dropin.now_available") : t("dropin.now_away"),
      );
    }
  }

  /** The counsellor answers the ring: it stops, and `event` goes out (null: nothing rings,
   * or an answer is on its way already). */
  async answer(event) {
    const offer = this.offer;
    if (!offer || this.busyHere) return null;
    this.busyHere = true;
    this.ringer.stop();
    this.sound = "off";
    this.render();
    return { offer, ack: await this.request(event, { ticket: offer.ticket }) };
  }

  async accept() {
    const answered = await this.answer("dropin_accept");
    if (!answered) return;
    const { offer, ack } = answered;
    if (!ack.ok) {
      this.busyHere = false;
      if (ack.error && ack.error.code === "offer_gone") {
        this.end("gone");
      } else {
        this.fail(ack.error);
        this.render(); // the offer may still be open: the buttons work again
      }
      return;
    }
    const view = ack.session;
    this.expect(view.session);
    this.end("accepted", { topic: topicWord(offer.topic) });
    this.onAccepted(view);
  }

  async decline() {
    const answered = await this.answer("dropin_decline");
    if (!answered) return;
    const { offer, ack } = answered;
    this.busyHere = false;
    if (ack.ok || (ack.error && ack.error.code === "offer_gone")) {
      // `dropin_withdrawn {why: declined}` has usually ended it already
      if (this.offer && this.offer.ticket === offer.ticket) this.end(ack.ok ? "declined" : "gone");
    } else {
      this.fail(ack.error);
      this.render();
    }
  }

  // ---------------------------------------------------------------- auto-admit

  isAccepted(id) {
    return this.accepted.has(id);
  }

  /** A session this tab began for a customer who is on their way (a callback by video):
   * let them in when they arrive, as an accepted drop-in. */
  expect(id) {
    this.accepted.add(id);
    store(ACCEPTED_KEY, [...this.accepted].slice(-KEEP_ACCEPTED));
  }

  /**
   * Let in, at once, the customers of drop-ins this tab accepted (accepting was the
   * counsellor's consent), and of callbacks it began by video. Called with the live
   * session views after every update.
   */
  admitWaiting(sessions) {
    for (const s of sessions) {
      if (s.state !== "waiting" || !this.accepted.has(s.session)) continue;
      if (!s.customer_present || this.admitting.has(s.session)) continue;
      this.admitting.add(s.session);
      Promise.resolve(this.admitSession(s.session)).finally(() =>
        this.admitting.delete(s.session),
      );
    }
    // forget those let in (a list asked for before the accept may not hold it yet, so
    // absence proves nothing; the stored list is short anyway)
    let changed = false;
    for (const s of sessions) {
      if (s.state !== "scheduled" && s.state !== "waiting" && this.accepted.delete(s.session)) {
        changed = true;
      }
    }
    if (changed) {
      store(ACCEPTED_KEY, [...this.accepted]);
      say(this.note, ""); // "will be let in right away" is over
    }
  }

  // ---------------------------------------------------------------- ending an offer

  end(why, vars = {}) {
    if (!this.offer) return;
    this.offer = null;
    this.busyHere = false;
    this.ringer.stop();
    this.sound = "off";
    clearInterval(this.tick);
    clearTimeout(this.late);
    this.tick = null;
    const active = document.activeElement;
    const hadFocus = this.alert.contains(active) || !active || active === document.body;
    this.render();
    this.changed();
    if (why) say(this.note, () => t(`dropin.ended_${why}`, vars));
    this.note.dataset.tone = why === "expired" || why === "offline" ? "warn" : "";
    if (hadFocus) {
      const back = this.focusBefore;
      if (back && back.isConnected && !back.closest("[hidden]")) back.focus();
      else $("#dropin-title").focus();
    }
    this.focusBefore = null;
  }

  // ---------------------------------------------------------------- drawing

  render() {
    show(this.section, this.enabled);
    if (!this.enabled) {
      show(this.alert, false);
      return;
    }
    this.renderPresence();
    this.renderOffer();
  }

  renderPresence() {
    const choice = this.chosen === "available" ? "available" : "away";
    for (const input of document.querySelectorAll("input[name='presence']")) {
      input.checked = input.value === choice;
    }
    const presence = this.presence || "away";
    const line = $("#presence-now");
    line.dataset.presence = presence;
    $("#presence-word").textContent = t(`presence.${presence}`);
    $("#presence-explain").textContent = t(`dropin.explain_${presence}`, {
      then: t(`presence.${choice}`),
    });
    const s = this.skills;
    if (s) {
      $("#skill-teams").textContent = (s.teams || []).join(", ") || t("console.none");
      $("#skill-topics").textContent =
        (s.topics || [])
          .slice()
          .sort((a, b) => DROPIN_TOPICS.indexOf(a) - DROPIN_TOPICS.indexOf(b))
          .map(topicWord)
          .join(", ") || t("console.none");
      $("#skill-languages").textContent =
        (s.languages || []).map((l) => t(`lang.${l}`)).join(", ") || t("console.none");
    }
    show($("#dropin-skills"), !!s);
    this.renderSoundHints();
  }

  /** Whether an offer would be heard: muted, or not allowed yet by the browser. */
  renderSoundHints() {
    const muted = this.ringer.chime.muted;
    const available = this.chosen === "available";
    show($("#dropin-muted"), muted && available);
    show($("#dropin-silent"), !muted && available && !this.ringer.ready);
  }

  renderOffer() {
    const o = this.offer;
    show(this.alert, !!o);
    this.alert.dataset.sound = o ? this.sound : "off";
    this.alert.dataset.oscillators = String(this.ringer.started);
    if (!o) return;
    const topic = topicWord(o.topic);
    const languageName = t(`lang.${o.language}`);
    const devices = devicesText(o);
    $("#offer-topic").textContent = topic;
    $("#offer-language").textContent = languageName;
    $("#offer-devices").textContent = devices;
    const manyTeams = this.skills && (this.skills.teams || []).length > 1;
    show($("#offer-team-row"), !!manyTeams);
    $("#offer-team").textContent = o.team;
    // a fresh ticket is offered the moment it is made, before its page has connected
    show($("#offer-absent"), o.present === false && (o.waited_seconds || 0) >= FRESH_SECONDS);
    $("#offer-sound").textContent =
      this.sound === "muted"
        ? t("dropin.sound_muted")
        : this.sound === "blocked"
          ? t("dropin.sound_blocked")
          : "";
    // not `disabled`: a focused button that is disabled drops the focus to the page
    for (const b of [$("#offer-accept"), $("#offer-decline")]) {
      b.setAttribute("aria-disabled", String(this.busyHere));
    }
    $("#offer-summary").textContent = t("dropin.offer_summary", {
      topic,
      language: languageName,
      devices,
      waited: minSec(this.waited()),
      left: this.secondsLeft(),
    });
    this.renderCountdown();
  }

  waited() {
    const o = this.offer;
    return o ? (o.waited_seconds || 0) + (Date.now() - o.receivedAt) / 1000 : 0;
  }

  secondsLeft() {
    return this.offer ? Math.max(0, Math.ceil((this.offer.deadline - Date.now()) / 1000)) : 0;
  }

  renderCountdown() {
    const o = this.offer;
    if (!o) return;
    const left = this.secondsLeft();
    const text = left === 1 ? t("dropin.left_one") : t("dropin.left_many", { count: left });
    if ($("#offer-left").textContent !== text) $("#offer-left").textContent = text;
    const bar = $("#offer-bar");
    const total = Math.max(1, (o.deadline - o.receivedAt) / 1000);
    bar.max = total;
    bar.value = Math.max(0, (o.deadline - Date.now()) / 1000);
    const waited = t("dropin.waited", { time: minSec(this.waited()) });
    if ($("#offer-waited").textContent !== waited) $("#offer-waited").textContent = waited;
    if (left === 0 && this.ringer.playing) {
      this.ringer.stop(); // the broker withdraws it in a moment
      this.sound = "off";
      this.alert.dataset.sound = "off";
    }
  }
}

function devicesText(o) {
  if (o.camera === null || o.camera === undefined || o.microphone === null ||
      o.microphone === undefined) {
    return t("dropin.devices_unknown");
  }
  if (o.camera && o.microphone) return t("dropin.devices_both");
  if (o.microphone) return t("dropin.devices_microphone");
  if (o.camera) return t("dropin.devices_camera");
  return t("dropin.devices_none");
}
