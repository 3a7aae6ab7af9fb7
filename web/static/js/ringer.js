// A ring tone made with the Web Audio API (no audio file), shared by the counsellor's
// console (a drop-in offer) and the customer's callback page (a counsellor calls back).
//
// Written for old phones too: no optional chaining, no `??`, no class fields in this file.

const RING_EVERY_MS = 2600;

/**
 * A calm, repeating two-note ring. `chime` holds the audio context (`context`, made here on
 * the first click or key press if need be) and `muted`: the console shares the context of
 * its waiting-room chime, so muting the chime mutes the ring too. Browsers let it sound only
 * after the person used the page (choosing "verfügbar" is such a use).
 */
export class Ringer {
  constructor(chime) {
    this.chime = chime;
    this.timer = null;
    this.master = null;
    this.oscillators = [];
    this.started = 0; // oscillators started in this page (read by the browser tests)
  }

  get context() {
    return this.chime.context;
  }

  /** Called from a click or key press: create or wake the audio context. */
  unlock() {
    const Context = window.AudioContext || window.webkitAudioContext;
    if (!Context) return;
    if (!this.chime.context) {
      try {
        this.chime.context = new Context();
      } catch (e) {
        return;
      }
    }
    if (this.chime.context.state === "suspended") this.chime.context.resume().catch(() => {});
  }

  /** "playing", "muted" or "blocked" (no sound allowed yet). */
  start() {
    this.stop();
    if (this.chime.muted) return "muted";
    const ctx = this.context;
    if (!ctx || ctx.state !== "running") return "blocked";
    this.master = ctx.createGain();
    this.master.gain.value = 1;
    this.master.connect(ctx.destination);
    this.burst();
    this.timer = setInterval(() => this.burst(), RING_EVERY_MS);
    return "playing";
  }

  burst() {
    const ctx = this.context;
    if (!ctx || !this.master) return;
    const now = ctx.currentTime;
    this.oscillators = this.oscillators.filter((o) => o.endsAt > now);
    // two soft chords, a short pause between them
    for (const at of [0, 0.45]) {
      for (const [frequency, level] of [
        [587.33, 0.16], // D5
        [739.99, 0.11], // F#5
      ]) {
        const osc = ctx.createOscillator();
        const gain = ctx.createGain();
        osc.type = "sine";
        osc.frequency.value = frequency;
        gain.gain.setValueAtTime(0.0001, now + at);
        gain.gain.exponentialRampToValueAtTime(level, now + at + 0.03);
        gain.gain.setValueAtTime(level, now + at + 0.25);
        gain.gain.exponentialRampToValueAtTime(0.0001, now + at + 0.38);
        osc.connect(gain).connect(this.master);
        osc.start(now + at);
        osc.stop(now + at + 0.4);
        this.oscillators.push({ osc, endsAt: now + at + 0.4 });
        this.started += 1;
      }
    }
  }

  stop() {
    clearInterval(this.timer);
    this.timer = null;
    for (const { osc } of this.oscillators) {
      try {
        osc.stop();
      } catch (e) {
        /* already over */
      }
    }
    this.oscillators = [];
    if (this.master) {
      try {
        this.master.disconnect();
      } catch (e) {
        /* already */
      }
      this.master = null;
    }
  }

  get playing() {
    return this.timer !== null;
  }

  get ready() {
    return !!this.context && this.context.state === "running";
  }

  /** Run `then` once the context runs (resuming it needs a click or key press). */
  whenReady(then) {
    if (this.ready) then();
    else if (this.context) this.context.resume().then(then, () => {});
  }
}
