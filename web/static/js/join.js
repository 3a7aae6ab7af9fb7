// /join: exchange the access code (read out on the phone, or from the letter) for the
// personal link. Accepts "123 456 789", "123-456-789", "123.456.789", "123/456/789".

import { $, errorText, postJSON, show } from "./common.js";
import { LANGUAGES, initialLanguage, language, onLanguageChange, setLanguage, t } from "./i18n.js";
import "./texts-customer.js";

const LANG_KEY = "cb.lang"; // the customer page starts in the same language
const form = $("#join-form");
const input = $("#code");
const error = $("#code-error");
const status = $("#code-status");

let shownError = null; // () => text, rendered again when the language changes

function setError(render) {
  shownError = render;
  error.textContent = render ? render() : "";
  if (render) input.setAttribute("aria-invalid", "true");
  else input.removeAttribute("aria-invalid");
}

const select = $("#lang");
onLanguageChange((lang) => {
  select.value = lang;
  show($("#lang-en"), lang !== "en");
  if (shownError) error.textContent = shownError();
  if (status.textContent) status.textContent = t("code.checking");
});
setLanguage(initialLanguage(Object.keys(LANGUAGES), LANG_KEY));
select.addEventListener("change", () => setLanguage(select.value, LANG_KEY));

let busy = false;
form.addEventListener("submit", async (event) => {
  event.preventDefault();
  if (busy) return;
  const digits = input.value.replace(/[\s\-./]/g, "");
  if (!/^\d{9}$/.test(digits)) {
    setError(() => t("code.nine"));
    input.focus();
    return;
  }
  setError(null);
  busy = true;
  status.textContent = t("code.checking");
  const result = await postJSON("/api/join", { code: digits });
  busy = false;
  status.textContent = "";
  if (!result.ok) {
    const err = result.error;
    setError(() => errorText(err));
    input.focus();
    return;
  }
  // the customer page starts in the language chosen here (`?lang=`; the fragment is the token)
  const url = result.data.join_url;
  const hash = url.indexOf("#");
  const base = hash < 0 ? url : url.slice(0, hash);
  const fragment = hash < 0 ? "" : url.slice(hash);
  const glue = base.indexOf("?") < 0 ? "?" : "&";
  location.assign(base + glue + "lang=" + encodeURIComponent(language()) + fragment);
});
