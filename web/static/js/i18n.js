// Translations. German is the source language; each page registers its texts per language
// (texts-*.js) and marks translatable elements in its HTML:
//   <h2 data-i18n="wait.title">Warteraum</h2>           -> textContent
//   <input data-i18n-attr="placeholder:join.name_hint">  -> attributes, `name:key;name:key`
// A missing text falls back to German, then to the key (visible, so it gets noticed).

export const LANGUAGES = {
  de: { name: "Deutsch", dir: "ltr", locale: "de-DE" },
  en: { name: "English", dir: "ltr", locale: "en-GB" },
  tr: { name: "Türkçe", dir: "ltr", locale: "tr-TR" },
  ar: { name: "العربية", dir: "rtl", locale: "ar" },
  uk: { name: "Українська", dir: "ltr", locale: "uk-UA" },
};

const dictionaries = {};
let current = "de";
const listeners = [];

export function register(language, entries) {
  dictionaries[language] = Object.assign(dictionaries[language] || {}, entries);
}

/** The text for `key` in the current language; `{name}` placeholders filled from `vars`. */
export function t(key, vars) {
  const text =
    (dictionaries[current] && dictionaries[current][key]) ??
    (dictionaries.de && dictionaries.de[key]) ??
    key;
  if (!vars) return text;
  return text.replace(/\{(\w+)\}/g, (whole, name) => (name in vars ? String(vars[name]) : whole));
}

export function language() {
  return current;
}

export function locale() {
  return LANGUAGES[current].locale;
}

/** Switch the page's language: texts, `lang`, `dir` (Arabic is right to left). */
export function setLanguage(lang, storageKey) {
  if (!(lang in LANGUAGES)) lang = "de";
  current = lang;
  document.documentElement.lang = lang;
  document.documentElement.dir = LANGUAGES[lang].dir;
  if (storageKey) {
    try {
      localStorage.setItem(storageKey, lang);
    } catch {
      /* private mode: the choice lasts for this page only */
    }
  }
  apply();
  for (const listener of listeners) listener(lang);
}

export function onLanguageChange(listener) {
  listeners.push(listener);
}

/** Fill every marked element below `root` in the current language. */
export function apply(root = document) {
  for (const node of root.querySelectorAll("[data-i18n]")) {
    node.textContent = t(node.dataset.i18n);
  }
  for (const node of root.querySelectorAll("[data-i18n-attr]")) {
    for (const pair of node.dataset.i18nAttr.split(";")) {
      const [attr, key] = pair.split(":");
      if (attr && key) node.setAttribute(attr.trim(), t(key.trim()));
    }
  }
}

/** The language to start with: `?lang=`, then the stored choice, then the browser's, then de. */
export function initialLanguage(allowed, storageKey) {
  const wanted = [];
  const query = new URLSearchParams(location.search).get("lang");
  if (query) wanted.push(query);
  try {
    const stored = storageKey && localStorage.getItem(storageKey);
    if (stored) wanted.push(stored);
  } catch {
    /* no storage */
  }
  for (const l of navigator.languages || []) wanted.push(l.slice(0, 2).toLowerCase());
  return wanted.find((l) => allowed.includes(l)) || "de";
}
