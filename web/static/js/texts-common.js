// Texts every page uses: error codes (from docs/protocol.md section 6) and connection states.
import { register } from "./i18n.js";

register("de", {
  "error.bad_request": "Die Eingabe ist ungültig.",
  "error.unknown_event": "Diese Aktion kennt der Server nicht.",
  "error.payload_too_large": "Die Nachricht ist zu groß.",
  "error.unsupported_version": "Bitte laden Sie die Seite neu.",
  "error.rate_limited": "Zu viele Versuche. Bitte warten Sie einen Moment.",
  "error.unauthenticated": "Die Anmeldung fehlt oder ist ungültig.",
  "error.token_expired": "Der Link ist abgelaufen.",
  "error.forbidden": "Dafür fehlt Ihnen die Berechtigung.",
  "error.link_in_use": "Dieser Link wird schon auf einem anderen Gerät benutzt.",
  "error.link_revoked":
    "Dieser Link gilt nicht mehr. Bitte nutzen Sie den neuen Link oder den neuen Zugangscode von Ihrem Jobcenter.",
  "error.invalid_code":
    "Zu diesem Zugangscode gibt es kein offenes Gespräch. Bitte prüfen Sie die Ziffern.",
  "error.not_found": "Das Gespräch wurde nicht gefunden.",
  "error.not_admitted": "Bitte warten Sie, bis Sie eingelassen werden.",
  "error.invalid_transition": "Das ist gerade nicht möglich.",
  "error.session_ended": "Das Gespräch ist beendet.",
  "error.channel_not_allowed": "Dieser Wechsel ist nicht möglich.",
  "error.conflict": "Das ist gerade nicht möglich: die andere Person ist nicht verbunden.",
  "error.unavailable": "Der Dienst ist gerade nicht erreichbar. Bitte versuchen Sie es später.",
  "error.internal": "Auf unserer Seite ist ein Fehler aufgetreten.",
  "error.timeout": "Der Server antwortet nicht. Bitte prüfen Sie Ihre Internetverbindung.",
  "error.unknown": "Unbekannter Fehler.",
  "error.page_incomplete":
    "Die Seite konnte nicht vollständig geladen werden. Bitte versuchen Sie es später noch einmal.",
  "conn.offline": "Keine Verbindung zum Server. Neuer Versuch …",
  "conn.dropped": "Die Verbindung ist unterbrochen. Neuer Versuch …",
});

register("en", {
  "error.bad_request": "The input is not valid.",
  "error.unknown_event": "The server does not know this action.",
  "error.payload_too_large": "The message is too large.",
  "error.unsupported_version": "Please reload the page.",
  "error.rate_limited": "Too many attempts. Please wait a moment.",
  "error.unauthenticated": "You are not signed in, or the sign-in is not valid.",
  "error.token_expired": "The link has expired.",
  "error.forbidden": "You are not allowed to do this.",
  "error.link_in_use": "This link is already in use on another device.",
  "error.link_revoked":
    "This link is no longer valid. Please use the new link or the new access code from your Jobcenter.",
  "error.invalid_code": "There is no open appointment with this access code. Please check the digits.",
  "error.not_found": "The appointment was not found.",
  "error.not_admitted": "Please wait until you are let in.",
  "error.invalid_transition": "This is not possible right now.",
  "error.session_ended": "The conversation has ended.",
  "error.channel_not_allowed": "This change is not possible.",
  "error.conflict": "This is not possible right now: the other person is not connected.",
  "error.unavailable": "The service is not available right now. Please try again later.",
  "error.internal": "Something went wrong on our side.",
  "error.timeout": "The server does not answer. Please check your internet connection.",
  "error.unknown": "Unknown error.",
  "error.page_incomplete": "The page could not be loaded completely. Please try again later.",
  "conn.offline": "No connection to the server. Trying again …",
  "conn.dropped": "The connection was interrupted. Trying again …",
});
