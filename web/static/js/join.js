// /join: exchange the access code read out on the phone for the personal link.

import { $, errorText, postJSON } from "./common.js";

const form = $("#join-form");
const input = $("#code");
const error = $("#code-error");
const submit = $("#code-submit");

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  error.textContent = "";
  const digits = input.value.replace(/[\s\-./]/g, "");
  if (!/^\d{9}$/.test(digits)) {
    error.textContent = "Der Zugangscode hat 9 Ziffern.";
    input.setAttribute("aria-invalid", "true");
    input.focus();
    return;
  }
  input.removeAttribute("aria-invalid");
  submit.disabled = true;
  const result = await postJSON("/api/join", { code: digits });
  submit.disabled = false;
  if (!result.ok) {
    error.textContent = errorText(result.error);
    input.setAttribute("aria-invalid", "true");
    input.focus();
    return;
  }
  location.assign(result.data.join_url);
});
