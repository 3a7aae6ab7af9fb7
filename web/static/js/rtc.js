// One WebRTC call, the same code for both sides.
//
// The counsellor is the initiator: it creates the peer connection with one audio and one
// video transceiver and sends the offer; the customer only answers. Switching between
// video and audio swaps the camera track in place (replaceTrack), so there is never a
// renegotiation. The phone closes the peer connection; stepping back up from the phone,
// or a party that lost its peer connection (a reload), starts a fresh one: the customer
// sends `bye`, the counsellor answers it with a new offer.

import { request, send } from "./common.js";

export const isWebrtc = (channel) => channel === "video" || channel === "audio";

/** At most one quality report (`media_state` with `stats`) per this many milliseconds. */
export const QUALITY_REPORT_MS = 10000;

/**
 * "good", "fair" or "poor" for a sample of `sampleQuality()`: round-trip time and packet
 * loss, whichever is worse decides. Missing figures count as fine.
 */
export function qualityLevel(sample) {
  if (!sample) return null;
  const rtt = typeof sample.rtt_ms === "number" ? sample.rtt_ms : 0;
  const loss = typeof sample.loss_pct === "number" ? sample.loss_pct : 0;
  if (rtt > 400 || loss > 8) return "poor";
  if (rtt > 200 || loss > 2) return "fair";
  return "good";
}

function mediaAvailable() {
  return (
    typeof RTCPeerConnection === "function" &&
    !!(navigator.mediaDevices && navigator.mediaDevices.getUserMedia)
  );
}

/** Ask for camera and microphone once; the capabilities say what this device can carry. */
export async function probeDevices() {
  if (!mediaAvailable()) {
    return { stream: null, capabilities: { webrtc: false, camera: false, microphone: false } };
  }
  for (const constraints of [{ audio: true, video: true }, { audio: true }]) {
    try {
      const stream = await navigator.mediaDevices.getUserMedia(constraints);
      return {
        stream,
        capabilities: {
          webrtc: true,
          camera: stream.getVideoTracks().length > 0,
          microphone: stream.getAudioTracks().length > 0,
        },
      };
    } catch {
      // try with less, or report no devices
    }
  }
  return { stream: null, capabilities: { webrtc: true, camera: false, microphone: false } };
}

export class Call {
  /**
   * @param {object} o
   * @param {object} o.socket       the socket.io socket of this page
   * @param {boolean} o.initiator   true for the counsellor
   * @param {HTMLVideoElement} o.localVideo
   * @param {HTMLVideoElement} o.remoteVideo
   * @param {HTMLElement} o.stage   gets the class `audio-only` when there is no video
   * @param {(text: string) => void} o.onStatus   German status text (kept for older pages)
   * @param {(state: string) => void} [o.onState] the same as a code, for pages that translate:
   *   `connecting`, `connected`, `disconnected`, `failed`, `problem`
   */
  constructor(o) {
    this.socket = o.socket;
    this.initiator = o.initiator;
    this.localVideo = o.localVideo;
    this.remoteVideo = o.remoteVideo;
    this.stage = o.stage;
    this.onStatus = o.onStatus || (() => {});
    this.onState = o.onState || (() => {});
    this.micMuted = false;
    this.cameraOff = false;
    this.counters = null; // packet counters of the last quality sample
    this.lastQualityReport = 0;
    this.session = null; // the counsellor names the session in every event
    this.iceServers = [];
    this.channel = null;
    this.stream = null;
    this.pc = null;
    this.remote = null;
    this.pending = [];
    this.reported = null;
    this.chain = Promise.resolve();
  }

  /** Run one step after the previous one: signals must be applied in order. */
  enqueue(step) {
    this.chain = this.chain.then(step).catch((err) => {
      console.warn("call step failed", err);
      this.onStatus("Es gab ein Problem mit der Verbindung.");
      this.onState("problem");
    });
    return this.chain;
  }

  useStream(stream) {
    this.stream = stream;
    this.applyMute();
    this.localVideo.srcObject = stream;
  }

  /** Mute or unmute the microphone (the track stays, so unmuting needs no renegotiation). */
  setMicMuted(muted) {
    this.micMuted = !!muted;
    this.applyMute();
  }

  /** Turn the camera picture off or on (the other side sees black while off). */
  setCameraOff(off) {
    this.cameraOff = !!off;
    this.applyMute();
  }

  applyMute() {
    if (!this.stream) return;
    for (const track of this.stream.getAudioTracks()) track.enabled = !this.micMuted;
    for (const track of this.stream.getVideoTracks()) track.enabled = !this.cameraOff;
  }

  /**
   * One connection-quality sample from `getStats()`: `rtt_ms` (the selected candidate
   * pair's current round-trip time) and `loss_pct` (inbound packets lost since the previous
   * sample, of all expected). Null while there is no connected peer connection. Either
   * figure may be missing when the browser does not report it yet.
   */
  async sampleQuality() {
    const pc = this.pc;
    if (!pc || pc.connectionState !== "connected") {
      this.counters = null;
      return null;
    }
    const report = await pc.getStats();
    let pairId = null;
    report.forEach((s) => {
      if (s.type === "transport" && s.selectedCandidatePairId) pairId = s.selectedCandidatePairId;
    });
    let rtt = null;
    let lost = 0;
    let received = 0;
    report.forEach((s) => {
      if (s.type === "candidate-pair" && typeof s.currentRoundTripTime === "number") {
        const chosen = pairId ? s.id === pairId : s.nominated && s.state === "succeeded";
        if (chosen) rtt = s.currentRoundTripTime * 1000;
      } else if (s.type === "inbound-rtp") {
        lost += Math.max(0, s.packetsLost || 0);
        received += s.packetsReceived || 0;
      }
    });
    const before = this.counters && this.counters.pc === pc ? this.counters : null;
    this.counters = { pc, lost, received };
    const dLost = before ? Math.max(0, lost - before.lost) : lost;
    const dReceived = before ? Math.max(0, received - before.received) : received;
    const sample = {};
    if (rtt !== null && Number.isFinite(rtt)) sample.rtt_ms = Math.round(rtt);
    if (dLost + dReceived > 0) {
      sample.loss_pct = Math.round((1000 * dLost) / (dLost + dReceived)) / 10;
    }
    return sample;
  }

  /**
   * Tell the broker the media is up, with the latest quality figures (at most every
   * QUALITY_REPORT_MS; only while connected). True if a report was sent.
   */
  reportQuality(sample) {
    if (!this.pc || this.pc.connectionState !== "connected" || !sample) return false;
    const now = Date.now();
    if (now - this.lastQualityReport < QUALITY_REPORT_MS) return false;
    const stats = {};
    for (const key of ["rtt_ms", "loss_pct"]) {
      if (typeof sample[key] === "number" && Number.isFinite(sample[key])) stats[key] = sample[key];
    }
    this.lastQualityReport = now;
    this.reported = "connected";
    const data = { state: "connected", stats };
    request(this.socket, "media_state", this.session ? { session: this.session, ...data } : data);
    return true;
  }

  setIceServers(servers) {
    // only what the broker configured: never a public STUN server by default
    this.iceServers = Array.isArray(servers) ? servers : [];
  }

  // ------------------------------------------------------------ driven by the page

  /** The channel changed (start, welcome, `channel` event). */
  setChannel(channel) {
    return this.enqueue(() => this.applyChannel(channel));
  }

  /** Counsellor: (re)start the peer connection with a fresh offer. */
  restart() {
    return this.enqueue(() => this.startFresh(true));
  }

  /** Counsellor: start a peer connection unless one is already there (back from phone). */
  connectIfIdle() {
    return this.enqueue(() => (this.pc ? undefined : this.startFresh(false)));
  }

  /** Customer after a reload: ask the counsellor for a fresh offer. */
  requestRestart() {
    return this.enqueue(() => {
      this.closePc();
      this.signal({ type: "bye" });
    });
  }

  onSignal(message) {
    return this.enqueue(() => this.handleSignal(message));
  }

  /** The call is over: close everything, release camera and microphone. */
  stop() {
    return this.enqueue(() => {
      this.channel = null;
      this.closePc();
      this.stopTracks();
    });
  }

  // ------------------------------------------------------------ internals

  signal(message) {
    send(this.socket, "signal", this.session ? { session: this.session, ...message } : message);
  }

  report(state) {
    if (this.reported === state) return;
    this.reported = state;
    const data = this.session ? { session: this.session, state } : { state };
    request(this.socket, "media_state", data);
  }

  async applyChannel(channel) {
    this.channel = channel;
    this.stage.classList.toggle("audio-only", channel !== "video");
    if (!isWebrtc(channel)) {
      this.closePc();
      this.stopTracks();
      return;
    }
    await this.ensureTracks();
    await this.attachTracks();
  }

  async ensureTracks() {
    const wantVideo = this.channel === "video";
    if (!this.stream) this.stream = new MediaStream();
    const needAudio = this.stream.getAudioTracks().length === 0;
    const needVideo = wantVideo && this.stream.getVideoTracks().length === 0;
    if ((needAudio || needVideo) && mediaAvailable()) {
      const tries = [{ audio: needAudio, video: needVideo }];
      if (needAudio && needVideo) tries.push({ audio: true });
      for (const constraints of tries) {
        try {
          const got = await navigator.mediaDevices.getUserMedia(constraints);
          for (const track of got.getTracks()) this.stream.addTrack(track);
          break;
        } catch {
          // fewer devices, or none: the other side still hears or sees what there is
        }
      }
    }
    if (!wantVideo) {
      for (const track of this.stream.getVideoTracks()) {
        track.stop(); // the camera light goes off on audio
        this.stream.removeTrack(track);
      }
    }
    this.applyMute();
    this.localVideo.srcObject = this.stream;
  }

  async attachTracks() {
    if (!this.pc || !this.stream) return;
    for (const t of this.pc.getTransceivers()) {
      if (t.currentDirection === "stopped") continue;
      const kind = t.receiver.track.kind;
      const track =
        (kind === "audio" ? this.stream.getAudioTracks() : this.stream.getVideoTracks())[0] ||
        null;
      if (t.sender.track !== track) await t.sender.replaceTrack(track);
    }
  }

  createPc() {
    const pc = new RTCPeerConnection({ iceServers: this.iceServers });
    this.pc = pc;
    this.pending = [];
    this.reported = null;
    this.remote = new MediaStream();
    this.remoteVideo.srcObject = this.remote;
    pc.ontrack = (e) => {
      if (pc !== this.pc) return;
      this.remote.addTrack(e.track);
    };
    pc.onicecandidate = (e) => {
      if (pc !== this.pc || !e.candidate) return;
      this.signal({ type: "candidate", candidate: e.candidate.toJSON() });
    };
    pc.onconnectionstatechange = () => {
      if (pc !== this.pc) return;
      const state = pc.connectionState;
      if (state === "connected") {
        this.onStatus("Verbunden.");
        this.report("connected");
      } else if (state === "failed") {
        this.onStatus("Die Verbindung ist fehlgeschlagen.");
        this.report("failed");
      } else if (state === "disconnected") {
        this.onStatus("Die Verbindung ist gestört …");
      } else if (state === "connecting") {
        this.onStatus("Verbindung wird aufgebaut …");
      }
      if (["connected", "failed", "disconnected", "connecting"].includes(state)) {
        this.onState(state);
      }
    };
    return pc;
  }

  closePc() {
    const pc = this.pc;
    this.pc = null;
    this.pending = [];
    this.reported = null;
    if (pc) pc.close();
    this.remoteVideo.srcObject = null;
  }

  stopTracks() {
    if (this.stream) for (const track of this.stream.getTracks()) track.stop();
    this.stream = null;
    this.localVideo.srcObject = null;
  }

  async startFresh(sayBye) {
    if (!this.initiator) return;
    // the other side may still hold a peer connection (ours was lost in a reload): bye
    if (sayBye) this.signal({ type: "bye" });
    this.closePc();
    if (!isWebrtc(this.channel)) return;
    await this.ensureTracks();
    const pc = this.createPc();
    pc.addTransceiver("audio", { direction: "sendrecv" });
    pc.addTransceiver("video", { direction: "sendrecv" });
    await this.attachTracks();
    await pc.setLocalDescription(await pc.createOffer());
    this.onStatus("Verbindung wird aufgebaut …");
    this.onState("connecting");
    this.signal({ type: "offer", sdp: pc.localDescription.sdp });
  }

  async handleSignal(m) {
    if (m.type === "bye") {
      // the other side has no peer connection any more
      if (this.initiator) await this.startFresh(false);
      else this.closePc();
    } else if (m.type === "offer" && !this.initiator) {
      if (!isWebrtc(this.channel)) return;
      await this.ensureTracks();
      const pc = this.pc || this.createPc();
      await pc.setRemoteDescription({ type: "offer", sdp: m.sdp });
      for (const t of pc.getTransceivers()) {
        if (t.currentDirection !== "stopped") t.direction = "sendrecv";
      }
      await this.attachTracks();
      await pc.setLocalDescription(await pc.createAnswer());
      this.signal({ type: "answer", sdp: pc.localDescription.sdp });
      await this.flushCandidates();
    } else if (m.type === "answer" && this.initiator) {
      if (!this.pc || this.pc.signalingState !== "have-local-offer") return;
      await this.pc.setRemoteDescription({ type: "answer", sdp: m.sdp });
      await this.flushCandidates();
    } else if (m.type === "candidate") {
      if (!this.pc || !m.candidate) return;
      if (!this.pc.remoteDescription) this.pending.push(m.candidate);
      else await this.addCandidate(m.candidate);
    }
  }

  async flushCandidates() {
    const waiting = this.pending;
    this.pending = [];
    for (const candidate of waiting) await this.addCandidate(candidate);
  }

  async addCandidate(candidate) {
    try {
      await this.pc.addIceCandidate(candidate);
    } catch {
      // a candidate of an earlier peer connection: harmless
    }
  }
}
