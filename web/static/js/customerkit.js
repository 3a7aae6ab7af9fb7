// What the customer pages share (customer.js for a session, dropin.js for a team's queue,
// callback.js for a callback request): texts that follow the chosen language, the language
// choice itself, and opening camera and microphone.
//
// Written for old phones too: no optional chaining, no `??`, no class fields in this file.

import { LANGUAGES, initialLanguage, onLanguageChange, setLanguage, t } from "./i18n.js";

// the customer pages share the choice: a call begun from the entry page starts in it too
export const LANG_KEY = "cb.lang";

// Elements whose text the page sets: rendered again when the language changes.
const rendered = new Map();

/** Set a node's text from `render` (null: empty), and again on each language change. */
export function put(node, render) {
  if (render) {
    rendered.set(node, render);
    node.textContent = render();
  } else {
    rendered.delete(node);
    node.textContent = "";
  }
}

/** The text of `key` (with `vars`) in the chosen language; null empties the node. */
export function say(node, key, vars) {
  put(node, key ? () => t(key, vars) : null);
}

/** The language changed: every text set with `put` or `say` in the new one. */
export function rerender() {
  for (const [node, render] of rendered) node.textContent = render();
}

/**
 * The header's language choice (`#lang`, with the "/ Language" hint `#lang-en`): start with
 * `?lang=`, the stored choice, the browser's, else German; every text set with `put` or
 * `say` follows, then `changed(lang)` does the page's own part.
 */
export function chooseLanguage(changed) {
  const select = document.getElementById("lang");
  onLanguageChange((lang) => {
    select.value = lang;
    document.getElementById("lang-en").hidden = lang === "en";
    rerender();
    if (changed) changed(lang);
  });
  setLanguage(initialLanguage(Object.keys(LANGUAGES), LANG_KEY));
  select.addEventListener("change", () => setLanguage(select.value, LANG_KEY));
}

/** Why a device could not be opened: "denied", "busy" (in use elsewhere) or "none". */
export function problemOf(err) {
  const name = err && err.name;
  if (name === "NotAllowedError" || name === "SecurityError" || name === "PermissionDeniedError") {
    return "denied";
  }
  if (name === "NotReadableError" || name === "TrackStartError" || name === "AbortError") {
    return "busy";
  }
  return "none";
}

/** Camera and microphone, else the microphone alone: {stream, videoError?, audioError?}. */
export async function openDevices(video) {
  const media = navigator.mediaDevices;
  try {
    return { stream: await media.getUserMedia({ audio: true, video: video }) };
  } catch (err) {
    const videoError = problemOf(err);
    try {
      return { stream: await media.getUserMedia({ audio: true }), videoError };
    } catch (err2) {
      return { stream: null, videoError, audioError: problemOf(err2) };
    }
  }
}

export function stopTracks(s) {
  if (s) for (const track of s.getTracks()) track.stop();
}
