// counselkit's counselling web app: help-seekers and counsellors of one centre, end-to-end encrypted in the browser.
//
// One bundle for every centre: what differs (name, topics, colours, links) comes from /config.json, written per
// tenant by the deploy (counselkit/webapp/config.py). The server side is the counselling module inside the
// tenant's Synapse (/_counselkit/v1, docs/api/counselling.openapi.json) and Synapse's client API.
//
// The DOM is built with createElement/textContent only: no text from the server or the config ever becomes markup.
// Navigation never adds history entries (history stays one entry long, so "Schnell weg" leaves no way back).

import { initAsync } from "@matrix-org/matrix-sdk-crypto-wasm";
import { ClientEvent, MatrixEventEvent, NotificationCountType, RoomEvent, createClient } from "matrix-js-sdk";
// a deep import of one module (no second SDK entry point): the key derivation secret storage uses for passphrases
import { deriveRecoveryKeyFromPassphrase } from "matrix-js-sdk/lib/crypto-api/key-passphrase.js";
import { decodeRecoveryKey } from "matrix-js-sdk/lib/crypto-api/recovery-key.js";

const DEFAULT_API = "/_counselkit/v1"; // config.api_base names it per deploy
const SESSION_KEY = "counselkit.session"; // sessionStorage: gone when the tab closes
const CRYPTO_PREFIX = "counselkit-crypto"; // IndexedDB databases of the Rust crypto store
const WASM_URL = "/crypto.wasm";
const POLL_MS = 5000;
const BACKUP_FLUSH_MS = 30000; // logout waits at most this long for the last room keys to reach the key backup
const USERNAME = /^[a-z0-9._-]{5,30}$/;

let config = null;
let client = null;
let session = null;
let pollTimer = null;
const app = () => document.getElementById("app");

// ---- small DOM helpers ----------------------------------------------------------------------------------------

function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (key.startsWith("on")) el.addEventListener(key.slice(2), value);
    else if (value === true) el.setAttribute(key, "");
    else el.setAttribute(key, String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

function show(title, ...content) {
  stopPolling();
  const main = app();
  main.replaceChildren(h("h2", { tabindex: "-1", id: "view-title" }, title), ...content.filter((c) => c !== null && c !== undefined));
  document.title = `${title} – ${config ? config.name : "Online-Beratung"}`;
  document.getElementById("view-title").focus(); // screen readers announce the new view; focus order restarts
}

function field(id, label, input, hint) {
  const hintId = hint ? `${id}-hint` : null;
  input.id = id;
  input.name = id;
  if (hintId) input.setAttribute("aria-describedby", hintId);
  return h("div", { class: "field" }, h("label", { for: id }, label), hint ? h("p", { class: "hint", id: hintId }, hint) : null, input);
}

function errorBox() {
  return h("p", { class: "error", role: "alert", "aria-live": "assertive" });
}

function setError(box, text) {
  box.textContent = text || "";
}

function button(label, onclick, attrs = {}) {
  return h("button", { type: "button", onclick, ...attrs }, label);
}

function formatTime(ms) {
  return new Date(ms).toLocaleString("de-DE", { dateStyle: "short", timeStyle: "short" });
}

// ---- the counselling API -------------------------------------------------------------------------------------

class ApiError extends Error {
  constructor(status, body) {
    super(body?.error_de || body?.error || `Fehler ${status}`);
    this.status = status;
    this.errcode = body?.errcode;
    this.field = body?.field;
  }
}

async function api(method, path, body) {
  const headers = { Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (session) headers.Authorization = `Bearer ${session.accessToken}`;
  const response = await fetch(`${config?.api_base || DEFAULT_API}${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const data = await response.json().catch(() => null);
  if (!response.ok) throw new ApiError(response.status, data);
  return data;
}

async function matrixLoginFlows() {
  const response = await fetch("/_matrix/client/v3/login");
  const data = await response.json().catch(() => ({ flows: [] }));
  return new Set((data.flows || []).map((flow) => flow.type));
}

// ---- session, crypto, logout ---------------------------------------------------------------------------------

function randomKey() {
  const bytes = crypto.getRandomValues(new Uint8Array(32));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

// ---- key backup: the help-seeker's history on another device -----------------------------------------------
//
// The room keys go to the server's key backup (encrypted there with a backup key); the backup key sits in secret
// storage (account data, encrypted with a key derived from the help-seeker's password by PBKDF2, 500 000 rounds,
// the SDK's figure). Logging in again elsewhere with the same password derives that key, loads the backup key and
// restores the room keys, so the earlier messages decrypt. The password is held in memory only while this runs.

let backupPassphrase = null;
let enteredRecoveryKey = null; // a counsellor's recovery key (decoded), only while it is being tried
const secretStorageKeys = new Map(); // key ID -> private key, for this page's lifetime only

const cryptoCallbacks = {
  cacheSecretStorageKey: (keyId, keyInfo, key) => secretStorageKeys.set(keyId, key),
  getSecretStorageKey: async ({ keys }) => {
    for (const [keyId, info] of Object.entries(keys)) {
      if (secretStorageKeys.has(keyId)) return [keyId, secretStorageKeys.get(keyId)];
      if (enteredRecoveryKey && (await client.secretStorage.checkKey(enteredRecoveryKey, info))) {
        secretStorageKeys.set(keyId, enteredRecoveryKey);
        return [keyId, enteredRecoveryKey];
      }
      if (backupPassphrase && info.passphrase?.salt) {
        const key = await deriveRecoveryKeyFromPassphrase(backupPassphrase, info.passphrase.salt, info.passphrase.iterations);
        if (await client.secretStorage.checkKey(key, info)) {
          secretStorageKeys.set(keyId, key);
          return [keyId, key];
        }
      }
    }
    return null; // no key of ours: the SDK then reports the secret as unreadable
  },
};

async function withPassphrase(password, action) {
  backupPassphrase = password;
  try {
    return await action();
  } finally {
    backupPassphrase = null;
    secretStorageKeys.clear();
  }
}

// A new key backup whose key is protected by the password (registration, or an account that has none yet).
async function setUpKeyBackup(password) {
  const crypto = client.getCrypto();
  await withPassphrase(password, () => crypto.bootstrapSecretStorage({
    createSecretStorageKey: () => crypto.createRecoveryKeyFromPassphrase(password),
    setupNewSecretStorage: true,
    setupNewKeyBackup: true,
  }));
}

// After a password login: this new device gets the room keys of the earlier conversations from the backup.
async function restoreKeyBackup(password) {
  const crypto = client.getCrypto();
  if (!(await crypto.getKeyBackupInfo())) return setUpKeyBackup(password);
  await withPassphrase(password, () => crypto.loadSessionBackupPrivateKeyFromSecretStorage());
  await crypto.checkKeyBackupAndEnable(); // the key matches the backup: this device uploads its own keys too
  await crypto.restoreKeyBackup();
}

// ---- key backup: a counsellor's conversations on the next login ----------------------------------------------
//
// Counsellors log in through the centre's Keycloak (SSO): the app never sees a password to derive a key from. Their
// backup key is protected by a random recovery key instead, shown once on the first login and asked for on every
// later one: logout removes everything from the browser, so each login is a new device, which gets the room keys of
// the counsellor's conversations from the backup with it.

async function counsellorKeys() {
  const crypto = client.getCrypto();
  if (!(await crypto.getKeyBackupInfo())) return newRecoveryKey();
  return enterRecoveryKey();
}

// A new secret storage and key backup; the recovery key is shown once and never stored by the app.
async function newRecoveryKey() {
  const crypto = client.getCrypto();
  const key = await crypto.createRecoveryKeyFromPassphrase();
  try {
    await crypto.bootstrapSecretStorage({ createSecretStorageKey: async () => key, setupNewSecretStorage: true, setupNewKeyBackup: true });
  } finally {
    secretStorageKeys.clear();
  }
  const saved = h("input", { type: "checkbox", id: "recovery-saved" });
  const next = h("button", { type: "button", class: "primary", disabled: true, onclick: () => counsellorHome() }, "Weiter");
  saved.addEventListener("change", () => { next.disabled = !saved.checked; });
  show("Ihr Wiederherstellungsschlüssel",
    h("p", {}, "Mit diesem Schlüssel lesen Sie Ihre Gespräche auch nach der nächsten Anmeldung. Bewahren Sie ihn sicher auf, zum Beispiel in einem Passwort-Manager. Er wird nur jetzt angezeigt; ohne ihn sind frühere Nachrichten nach dem Abmelden nicht mehr lesbar."),
    h("p", { class: "recovery-key", id: "recovery-key" }, key.encodedPrivateKey),
    h("div", { class: "field checkbox" }, saved, h("label", { for: "recovery-saved" }, "Ich habe den Schlüssel sicher aufbewahrt.")),
    next);
}

// This device restores the room keys from the backup with the recovery key the counsellor enters.
function enterRecoveryKey(problem) {
  const input = h("input", { type: "text", autocomplete: "off", autocapitalize: "none", spellcheck: "false", required: true });
  const error = errorBox();
  setError(error, problem || "");
  const submit = h("button", { type: "submit", class: "primary" }, "Entsperren");
  const form = h("form", { onsubmit: async (event) => {
    event.preventDefault();
    submit.disabled = true;
    setError(error, "Ihre Gespräche werden entschlüsselt …");
    const crypto = client.getCrypto();
    try {
      enteredRecoveryKey = decodeRecoveryKey(input.value.trim());
      await crypto.loadSessionBackupPrivateKeyFromSecretStorage();
      await crypto.checkKeyBackupAndEnable(); // this device backs up its own keys from now on as well
      await crypto.restoreKeyBackup();
    } catch {
      submit.disabled = false;
      return setError(error, "Dieser Schlüssel passt nicht. Bitte prüfen Sie ihn (Groß- und Kleinschreibung, Leerzeichen egal).");
    } finally {
      enteredRecoveryKey = null;
      secretStorageKeys.clear();
    }
    await counsellorHome();
  } },
  field("recovery-key-input", "Wiederherstellungsschlüssel", input, "Der Schlüssel, der Ihnen bei der ersten Anmeldung angezeigt wurde."),
  error, submit,
  button("Schlüssel verloren – neuen erstellen", () => lostRecoveryKey()));
  show("Wiederherstellungsschlüssel eingeben", form);
}

function lostRecoveryKey() {
  show("Neuen Schlüssel erstellen",
    h("p", {}, "Mit einem neuen Schlüssel können Sie weiterarbeiten, aber Nachrichten von früheren Anmeldungen bleiben auf diesem Gerät unlesbar. Kolleginnen und Kollegen sind davon nicht betroffen."),
    h("div", { class: "actions" },
      button("Neuen Schlüssel erstellen", () => newRecoveryKey(), { class: "danger" }),
      button("Zurück", () => enterRecoveryKey())));
}

// Before logout: wait (bounded) until every room key this device knows is in the backup, so nothing written or
// received in this session is lost. The SDK uploads in the background after a random delay of up to 10 s; its
// CryptoApi has no "flush", so the counts come from the Rust OlmMachine the SDK holds.
async function flushKeyBackup() {
  const machine = client?.getCrypto()?.olmMachine;
  if (!machine || !(await client.getCrypto().getActiveSessionBackupVersion())) return;
  const deadline = Date.now() + BACKUP_FLUSH_MS;
  while (Date.now() < deadline) {
    const counts = await machine.roomKeyCounts();
    if (counts.backedUp >= counts.total) return;
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
}

// The crypto store in IndexedDB is encrypted with a key that lives only in this tab's sessionStorage.
async function startSession(role, login) {
  session = { role, userId: login.user_id, accessToken: login.access_token, deviceId: login.device_id, storeKey: randomKey() };
  sessionStorage.setItem(SESSION_KEY, JSON.stringify(session));
  await startClient();
}

async function startClient() {
  client = createClient({ baseUrl: location.origin, userId: session.userId, accessToken: session.accessToken, deviceId: session.deviceId, cryptoCallbacks });
  await initAsync(WASM_URL); // before initRustCrypto: the SDK then reuses this module instance
  await client.initRustCrypto({ cryptoDatabasePrefix: CRYPTO_PREFIX, storagePassword: session.storeKey });
  const ready = new Promise((resolve) => {
    const onSync = (state) => {
      if (state === "PREPARED" || state === "SYNCING") {
        client.removeListener(ClientEvent.Sync, onSync);
        resolve();
      }
    };
    client.on(ClientEvent.Sync, onSync);
  });
  await client.startClient({ initialSyncLimit: 50, lazyLoadMembers: false });
  await ready;
}

function deleteDatabase(name) {
  return new Promise((resolve) => {
    const request = indexedDB.deleteDatabase(name);
    request.onsuccess = request.onerror = () => resolve();
    request.onblocked = () => setTimeout(resolve, 500); // finished once the last connection closes
  });
}

// Everything this app ever stored in the browser: the crypto store, the SDK's stores, web storage, caches.
async function wipeLocal() {
  const old = client;
  client = null;
  session = null;
  stopPolling();
  if (old) {
    old.stopClient();
    await old.clearStores().catch(() => {});
  }
  localStorage.clear();
  sessionStorage.clear();
  if (indexedDB.databases) {
    for (const db of await indexedDB.databases()) await deleteDatabase(db.name);
  }
  if (self.caches) {
    for (const key of await caches.keys()) await caches.delete(key);
  }
  if (navigator.serviceWorker) {
    for (const registration of await navigator.serviceWorker.getRegistrations()) await registration.unregister();
  }
}

async function logout() {
  if (client) await flushKeyBackup().catch(() => {});
  if (client) await client.logout(true).catch(() => {}); // the server forgets the device and its token
  await wipeLocal();
  landing("Sie sind abgemeldet. Auf diesem Gerät ist nichts mehr gespeichert.");
}

// Quick exit: leave first, clean up on the way out. The token is revoked by a request that outlives the page.
function quickExit(event) {
  if (event) event.preventDefault();
  const target = (config && config.quick_exit_url) || document.getElementById("quick-exit").href;
  if (session) {
    fetch("/_matrix/client/v3/logout", { method: "POST", keepalive: true, headers: { Authorization: `Bearer ${session.accessToken}` } });
  }
  sessionStorage.clear();
  localStorage.clear();
  if (indexedDB.databases) indexedDB.databases().then((dbs) => dbs.forEach((db) => indexedDB.deleteDatabase(db.name)));
  document.body.replaceChildren();
  location.replace(target);
}

// ---- rooms and messages --------------------------------------------------------------------------------------

function waitForRoom(roomId) {
  return new Promise((resolve) => {
    const ready = () => {
      const room = client.getRoom(roomId);
      return room && room.getMyMembership() === "join" && room.hasEncryptionStateEvent() ? room : null;
    };
    const found = ready();
    if (found) return resolve(found);
    const check = () => {
      const room = ready();
      if (room) {
        client.removeListener(ClientEvent.Sync, check);
        client.removeListener(RoomEvent.MyMembership, check);
        resolve(room);
      }
    };
    client.on(ClientEvent.Sync, check);
    client.on(RoomEvent.MyMembership, check);
  });
}

async function joined(roomId) {
  const room = client.getRoom(roomId);
  if (!room || room.getMyMembership() !== "join") await client.joinRoom(roomId);
  return waitForRoom(roomId);
}

function messagesOf(room) {
  return room.getLiveTimeline().getEvents().filter((ev) => ev.getType() === "m.room.message" || ev.isEncrypted());
}

function senderLabel(ev) {
  if (ev.getSender() === session.userId) return "Sie";
  return session.role === "seeker" ? "Beratung" : "Ratsuchende*r";
}

function renderMessages(list, room) {
  const items = messagesOf(room).map((ev) => {
    let body;
    if (ev.isDecryptionFailure()) body = h("em", {}, "Diese Nachricht kann auf diesem Gerät nicht entschlüsselt werden.");
    else if (ev.isBeingDecrypted() || ev.getType() !== "m.room.message") body = h("em", {}, "Wird entschlüsselt …");
    else body = String(ev.getContent().body ?? "");
    const mine = ev.getSender() === session.userId;
    return h("li", { class: mine ? "message mine" : "message" },
      h("p", { class: "meta" }, `${senderLabel(ev)} · `, h("time", { datetime: new Date(ev.getTs()).toISOString() }, formatTime(ev.getTs()))),
      h("p", { class: "body" }, body));
  });
  list.replaceChildren(...items);
  if (items.length === 0) list.append(h("li", { class: "empty" }, "Noch keine Nachrichten."));
  const last = room.getLiveTimeline().getEvents().at(-1);
  if (last && document.visibilityState === "visible") client.sendReadReceipt(last).catch(() => {});
}

// A live view of one conversation with a send form; `extra` adds the counsellor's actions.
function conversation(room, { canSend = true, extra = null } = {}) {
  const list = h("ol", { class: "messages", "aria-live": "polite", "aria-label": "Nachrichten" });
  const text = h("textarea", { rows: "4", required: true, maxlength: "10000" });
  const error = errorBox();
  const form = h("form", { class: "send", onsubmit: async (event) => {
    event.preventDefault();
    const body = text.value.trim();
    if (!body) return setError(error, "Bitte schreiben Sie eine Nachricht.");
    setError(error, "");
    try {
      await client.sendTextMessage(room.roomId, null, body); // null thread: a body starting with "$" is not a thread ID
      text.value = "";
      text.focus();
    } catch (err) {
      setError(error, `Die Nachricht wurde nicht gesendet: ${err.message}`);
    }
  } }, field("message", "Ihre Nachricht", text), error, h("button", { type: "submit" }, "Senden"));
  const rerender = (ev, r) => {
    if (!r || r.roomId === room.roomId) renderMessages(list, room);
  };
  const onDecrypted = (ev) => {
    if (ev.getRoomId() === room.roomId) renderMessages(list, room);
  };
  client.on(RoomEvent.Timeline, rerender);
  client.on(MatrixEventEvent.Decrypted, onDecrypted);
  // data-room: which enquiry a view shows (room IDs are known to both sides; the browser tests pick by it)
  const section = h("section", { class: "conversation", "aria-labelledby": "view-title", "data-room": room.roomId }, list, canSend ? form : h("p", {}, "Dieses Gespräch ist abgeschlossen."), extra);
  section.detach = () => {
    client.removeListener(RoomEvent.Timeline, rerender);
    client.removeListener(MatrixEventEvent.Decrypted, onDecrypted);
  };
  renderMessages(list, room);
  return section;
}

let detachCurrent = null;
function showConversation(title, section, ...more) {
  if (detachCurrent) detachCurrent();
  detachCurrent = section.detach;
  show(title, section, ...more);
}

function stopPolling() {
  if (pollTimer) clearInterval(pollTimer);
  pollTimer = null;
}

// ---- help-seeker ---------------------------------------------------------------------------------------------

// The centre's absence notice (set by a counsellor in the app, else tenants.yaml's), as help-seekers see it.
function absenceNotice() {
  const text = config.centre?.absence_message;
  return text ? h("p", { class: "absence", role: "status" }, h("strong", {}, "Hinweis: "), text) : null;
}

function landing(notice) {
  if (detachCurrent) detachCurrent();
  detachCurrent = null;
  const centre = config.centre || {};
  show(`Willkommen bei ${config.name}`,
    notice ? h("p", { class: "notice", role: "status" }, notice) : null,
    absenceNotice(),
    h("p", {}, "Hier können Sie uns schreiben – anonym, kostenlos und verschlüsselt. Nur Sie und die Beratung können Ihre Nachrichten lesen."),
    h("h3", {}, "Dazu beraten wir"),
    h("ul", { class: "topics" }, (centre.topics || config.topics || []).map((t) => h("li", {}, t))),
    h("h3", {}, "Wann wir antworten"),
    h("p", {}, centre.opening_hours || config.opening_hours || ""),
    h("div", { class: "actions" },
      button("Jetzt anonym registrieren", registration, { class: "primary" }),
      button("Ich habe schon ein Konto", seekerLogin)),
    h("p", { class: "staff" }, button("Anmeldung für Beraterinnen und Berater", counsellorLogin, { class: "link" })));
}

function passwordProblems(password) {
  const problems = [];
  if (password.length < 12) problems.push("mindestens 12 Zeichen");
  if (!/[a-z]/.test(password)) problems.push("einen Kleinbuchstaben");
  if (!/[A-Z]/.test(password)) problems.push("einen Großbuchstaben");
  if (!/[0-9]/.test(password)) problems.push("eine Ziffer");
  if (!/[^A-Za-z0-9]/.test(password)) problems.push("ein Sonderzeichen");
  return problems;
}

function registration() {
  const username = h("input", { type: "text", autocomplete: "off", autocapitalize: "none", spellcheck: "false", required: true, minlength: "5", maxlength: "30" });
  const password = h("input", { type: "password", autocomplete: "new-password", required: true, minlength: "12" });
  const strength = h("p", { class: "hint", id: "password-strength", "aria-live": "polite" });
  password.addEventListener("input", () => {
    const missing = passwordProblems(password.value);
    strength.textContent = missing.length ? `Es fehlt noch: ${missing.join(", ")}.` : "Das Passwort erfüllt alle Regeln.";
  });
  const consent = h("input", { type: "checkbox", required: true, id: "consent" });
  const error = errorBox();
  const submit = h("button", { type: "submit", class: "primary" }, "Registrieren");
  const form = h("form", { novalidate: true, onsubmit: async (event) => {
    event.preventDefault();
    const name = username.value.trim().toLowerCase();
    if (!USERNAME.test(name)) return setError(error, "Der Benutzername braucht 5 bis 30 Zeichen: Kleinbuchstaben, Ziffern, Punkt, Unterstrich oder Bindestrich.");
    const missing = passwordProblems(password.value);
    if (missing.length) return setError(error, `Das Passwort braucht noch: ${missing.join(", ")}.`);
    if (!consent.checked) return setError(error, "Bitte stimmen Sie der Datenschutzerklärung zu.");
    submit.disabled = true;
    setError(error, "Ihr Konto wird angelegt und die Verschlüsselung eingerichtet …");
    try {
      const login = await api("POST", "/register", { username: name, password: password.value, email: null, postcode: null, consent_version: config.consent_version });
      await startSession("seeker", login);
      setError(error, "Die Sicherung Ihrer Schlüssel wird eingerichtet …");
      await setUpKeyBackup(password.value);
      await seekerHome();
    } catch (err) {
      submit.disabled = false;
      setError(error, err.message);
    }
  } },
  field("username", "Benutzername", username, "Bitte nicht Ihr echter Name! Wählen Sie einen Fantasienamen (5–30 Zeichen: a–z, 0–9, . _ -)."),
  h("div", { class: "field" }, h("label", { for: "password" }, "Passwort"),
    h("p", { class: "hint", id: "password-hint" }, "Mindestens 12 Zeichen, mit Groß- und Kleinbuchstaben, Ziffer und Sonderzeichen. Merken Sie es sich gut: ohne Passwort kommen Sie nicht mehr an Ihre Nachrichten."),
    password, strength),
  h("div", { class: "field checkbox" }, consent,
    h("label", { for: "consent" }, "Ich habe die ", h("a", { href: config.privacy_url, target: "_blank", rel: "noopener noreferrer" }, "Datenschutzerklärung"), " gelesen und stimme ihr zu.")),
  error, submit, button("Zurück", () => landing()));
  password.id = "password";
  password.name = "password";
  password.setAttribute("aria-describedby", "password-hint password-strength");
  show("Anonym registrieren", form);
}

function seekerLogin() {
  loginForm("Anmelden", "seeker", "Ihr Benutzername");
}

function counsellorLogin() {
  // production: SSO through the centre's Keycloak (m.login.sso; Synapse redirects back with ?loginToken=...)
  matrixLoginFlows().then((flows) => {
    const sso = config.login?.counsellor === "sso" && flows.has("m.login.sso");
    if (sso) {
      const redirect = `${location.origin}/?sso=1`;
      const idp = config.login.sso_idp_id ? `/${encodeURIComponent(config.login.sso_idp_id)}` : "";
      const url = `/_matrix/client/v3/login/sso/redirect${idp}?redirectUrl=${encodeURIComponent(redirect)}`;
      show("Anmeldung für die Beratung", h("p", {}, "Sie melden sich mit Ihrem Dienstkonto an."), h("a", { href: url, class: "button primary" }, "Mit Dienstkonto anmelden"), button("Zurück", () => landing()));
    } else {
      loginForm("Anmeldung für die Beratung", "counsellor", "Benutzername");
    }
  });
}

function loginForm(title, role, userLabel) {
  const username = h("input", { type: "text", autocomplete: "username", autocapitalize: "none", required: true });
  const password = h("input", { type: "password", autocomplete: "current-password", required: true });
  const error = errorBox();
  const submit = h("button", { type: "submit", class: "primary" }, "Anmelden");
  const form = h("form", { onsubmit: async (event) => {
    event.preventDefault();
    submit.disabled = true;
    setError(error, "Anmeldung läuft …");
    try {
      const login = await matrixLogin({ type: "m.login.password", identifier: { type: "m.id.user", user: username.value.trim() }, password: password.value });
      await startSession(role, login);
      if (role === "seeker") {
        setError(error, "Ihre früheren Nachrichten werden entschlüsselt …");
        await restoreKeyBackup(password.value);
      }
      await (role === "seeker" ? seekerHome() : counsellorKeys());
    } catch (err) {
      submit.disabled = false;
      setError(error, err.status === 403 ? "Benutzername oder Passwort stimmen nicht." : err.message);
    }
  } }, field(`${role}-username`, userLabel, username), field(`${role}-password`, "Passwort", password), error, submit, button("Zurück", () => landing()));
  show(title, form);
}

async function matrixLogin(body) {
  const response = await fetch("/_matrix/client/v3/login", { method: "POST", headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ ...body, initial_device_display_name: "counselkit web" }) });
  const data = await response.json().catch(() => null);
  if (!response.ok) throw new ApiError(response.status, data);
  return data;
}

async function seekerHome() {
  const { mine } = await api("GET", "/enquiries");
  const current = mine.find((e) => !e.closed) || mine[0];
  if (current) return seekerConversation(current);
  const topics = config.centre?.topics || config.topics || [];
  const topic = h("select", {}, h("option", { value: "" }, "Kein bestimmtes Thema"), topics.map((t) => h("option", { value: t }, t)));
  const text = h("textarea", { rows: "6", required: true, maxlength: "10000" });
  const error = errorBox();
  const submit = h("button", { type: "submit", class: "primary" }, "Nachricht senden");
  const form = h("form", { onsubmit: async (event) => {
    event.preventDefault();
    const body = text.value.trim();
    if (!body) return setError(error, "Bitte schreiben Sie eine Nachricht.");
    submit.disabled = true;
    setError(error, "Wird verschlüsselt gesendet …");
    try {
      const enquiry = await api("POST", "/enquiries", { topic: topic.value || null });
      const room = await joined(enquiry.room_id);
      await client.sendTextMessage(room.roomId, null, body); // null thread: a body starting with "$" is not a thread ID
      await seekerHome();
    } catch (err) {
      submit.disabled = false;
      setError(error, err.message);
    }
  } }, field("topic", "Thema", topic), field("first-message", "Ihre Nachricht an die Beratung", text, "Schreiben Sie, worum es geht. Nur die Beratung kann es lesen."), error, submit);
  show("Ihre erste Nachricht", absenceNotice(), form, seekerMenu());
}

async function seekerConversation(enquiry) {
  const room = await joined(enquiry.room_id);
  const status = enquiry.closed ? "Die Beratung hat dieses Gespräch abgeschlossen." :
    enquiry.counsellor ? "Eine Beraterin oder ein Berater kümmert sich um Ihr Anliegen." :
      `Ihre Nachricht ist angekommen. Wir antworten ${config.centre?.opening_hours || "so bald wie möglich"}.`;
  const section = conversation(room, { canSend: !enquiry.closed });
  showConversation("Ihr Gespräch", h("p", { class: "notice", role: "status" }, status), absenceNotice(), section, seekerMenu());
  // the title stays first in the focus order; the section is placed after the status line
}

function seekerMenu() {
  return h("nav", { class: "account", "aria-label": "Konto" },
    button("Abmelden", logout),
    button("Passwort ändern", changePassword),
    button("Mein Konto löschen", deleteAccount, { class: "danger" }));
}

// A new password for the account and for the key backup: Synapse checks the current one (user-interactive auth) and
// the rules (password_config.policy, the registration's rule), then the secret-storage key is made anew from the
// new password and the backup key stored under it, so the old password opens neither the account nor the backup.
function changePassword() {
  const current = h("input", { type: "password", autocomplete: "current-password", required: true });
  const next = h("input", { type: "password", autocomplete: "new-password", required: true, minlength: "12" });
  const repeat = h("input", { type: "password", autocomplete: "new-password", required: true });
  const error = errorBox();
  const submit = h("button", { type: "submit", class: "primary" }, "Passwort ändern");
  let changed = false; // the account has the new password; only the backup is left (a retry does only that)
  const form = h("form", { novalidate: true, onsubmit: async (event) => {
    event.preventDefault();
    const missing = passwordProblems(next.value);
    if (missing.length) return setError(error, `Das neue Passwort braucht noch: ${missing.join(", ")}.`);
    if (next.value !== repeat.value) return setError(error, "Die beiden neuen Passwörter stimmen nicht überein.");
    submit.disabled = true;
    setError(error, "Das Passwort wird geändert …");
    const crypto = client.getCrypto();
    if (!changed && !(await crypto.getSessionBackupPrivateKey())) {
      // the backup key must be on this device to be stored again under the new password: load it with the current
      // one (this also checks it before anything changes)
      try {
        await withPassphrase(current.value, () => crypto.loadSessionBackupPrivateKeyFromSecretStorage());
      } catch {
        submit.disabled = false;
        return setError(error, "Das bisherige Passwort stimmt nicht.");
      }
    }
    try {
      if (!changed) {
        await client.setPassword({ type: "m.login.password", identifier: { type: "m.id.user", user: session.userId }, password: current.value }, next.value, false);
        changed = true;
      }
      setError(error, "Die Sicherung Ihrer Schlüssel wird mit dem neuen Passwort verschlüsselt …");
      await crypto.bootstrapSecretStorage({ createSecretStorageKey: () => crypto.createRecoveryKeyFromPassphrase(next.value), setupNewSecretStorage: true });
      secretStorageKeys.clear();
      await seekerHome();
      showStatus("Ihr Passwort ist geändert.");
    } catch (err) {
      submit.disabled = false;
      setError(error, changed ? "Das Passwort ist geändert, die Schlüsselsicherung noch nicht. Bitte versuchen Sie es noch einmal." :
        err.httpStatus === 401 ? "Das bisherige Passwort stimmt nicht." : (err.data?.error || err.message));
    }
  } },
  field("current-password", "Bisheriges Passwort", current),
  field("new-password", "Neues Passwort", next, "Mindestens 12 Zeichen, mit Groß- und Kleinbuchstaben, Ziffer und Sonderzeichen."),
  field("repeat-password", "Neues Passwort wiederholen", repeat),
  error, submit, button("Abbrechen", () => seekerHome()));
  show("Passwort ändern", form);
}

// A short confirmation above the current view (after it was shown: show() replaces the whole view).
function showStatus(text) {
  app().querySelector("h2")?.after(h("p", { class: "notice", role: "status" }, text));
}

function deleteAccount() {
  const error = errorBox();
  show("Konto löschen",
    h("p", {}, "Wenn Sie Ihr Konto löschen, werden Ihr Konto und Ihre Nachrichten gelöscht. Das lässt sich nicht rückgängig machen."),
    error,
    h("div", { class: "actions" },
      button("Ja, Konto endgültig löschen", async () => {
        try {
          await api("DELETE", "/account");
          await wipeLocal();
          landing("Ihr Konto ist gelöscht.");
        } catch (err) {
          setError(error, err.message);
        }
      }, { class: "danger" }),
      button("Abbrechen", () => seekerHome())));
}

// ---- counsellor ----------------------------------------------------------------------------------------------

function unread(roomId) {
  const room = client.getRoom(roomId);
  return room ? room.getUnreadNotificationCount(NotificationCountType.Total) : 0;
}

async function counsellorHome(notice) {
  if (detachCurrent) detachCurrent();
  detachCurrent = null;
  const openList = h("ul", { class: "queue", id: "open-enquiries" });
  const mineList = h("ul", { class: "queue", id: "my-conversations" });
  const error = errorBox();
  const refresh = async () => {
    try {
      const { open, mine } = await api("GET", "/enquiries");
      openList.replaceChildren(...(open.length ? open.map((e) => h("li", { "data-room": e.room_id },
        h("span", {}, `${e.topic || "Ohne Thema"} · seit ${formatTime(e.created_at)}`),
        button("Annehmen", () => accept(e), { "aria-label": `Anfrage von ${formatTime(e.created_at)} annehmen` }))) : [h("li", { class: "empty" }, "Keine offenen Anfragen.")]));
      mineList.replaceChildren(...(mine.length ? mine.map((e) => {
        const count = unread(e.room_id);
        return h("li", { "data-room": e.room_id },
          h("span", {}, `${e.topic || "Ohne Thema"} · ${formatTime(e.created_at)}${e.closed ? " · abgeschlossen" : ""}`),
          count ? h("span", { class: "badge", "aria-label": `${count} ungelesen` }, String(count)) : null,
          button("Öffnen", () => counsellorConversation(e)));
      }) : [h("li", { class: "empty" }, "Noch keine Gespräche.")]));
      setError(error, "");
    } catch (err) {
      setError(error, err.message);
    }
  };
  show("Beratung", notice ? h("p", { class: "notice", role: "status" }, notice) : null, error,
    h("h3", {}, "Offene Anfragen"), openList, h("h3", {}, "Meine Gespräche"), mineList, absenceForm(),
    h("nav", { class: "account", "aria-label": "Konto" }, button("Abmelden", logout)));
  await refresh();
  pollTimer = setInterval(refresh, POLL_MS);
}

// The centre's absence notice (holidays, a closed day): any counsellor sets or removes it for the whole centre;
// help-seekers see it on the landing page and in their conversation.
function absenceForm() {
  const text = h("input", { type: "text", maxlength: "500", autocomplete: "off", value: config.centre?.absence_message || "" });
  const status = h("p", { class: "hint", role: "status" });
  const save = async (method, body) => {
    try {
      config.centre = await api(method, "/centre/absence", body);
      text.value = config.centre.absence_message || "";
      status.textContent = method === "PUT" ? "Die Abwesenheitsnotiz ist gespeichert." : "Die Abwesenheitsnotiz ist entfernt.";
    } catch (err) {
      status.textContent = err.message;
    }
  };
  return h("section", { class: "absence-settings", "aria-labelledby": "absence-title" },
    h("h3", { id: "absence-title" }, "Abwesenheitsnotiz"),
    h("form", { onsubmit: (event) => { event.preventDefault(); save("PUT", { message: text.value.trim() }); } },
      field("absence-text", "Hinweis für Ratsuchende (z. B. Urlaub, Schließtage)", text, "Ratsuchende sehen ihn auf der Startseite und in ihrem Gespräch."),
      h("button", { type: "submit" }, "Notiz speichern"),
      button("Notiz entfernen", () => save("DELETE"))),
    status);
}

async function accept(enquiry) {
  try {
    await api("POST", `/enquiries/${encodeURIComponent(enquiry.room_id)}/accept`);
    await counsellorConversation({ ...enquiry, counsellor: session.userId });
  } catch (err) {
    await counsellorHome(err.errcode === "CK_ALREADY_ACCEPTED" ? "Eine Kollegin oder ein Kollege hat diese Anfrage schon angenommen." : err.message);
  }
}

async function counsellorConversation(enquiry) {
  const room = await joined(enquiry.room_id);
  const error = errorBox();
  const colleague = h("input", { type: "text", placeholder: "@name:server", autocomplete: "off" });
  const actions = enquiry.closed ? null : h("section", { class: "counsellor-actions", "aria-label": "Gespräch verwalten" },
    h("form", { onsubmit: async (event) => {
      event.preventDefault();
      try {
        await api("POST", `/enquiries/${encodeURIComponent(enquiry.room_id)}/handover`, { to: colleague.value.trim() });
        await counsellorHome("Das Gespräch wurde übergeben.");
      } catch (err) {
        setError(error, err.message);
      }
    } }, field("handover-to", "An Kollegin oder Kollegen übergeben (Matrix-ID)", colleague), h("button", { type: "submit" }, "Übergeben")),
    button("Gespräch abschließen", async () => {
      try {
        await api("POST", `/enquiries/${encodeURIComponent(enquiry.room_id)}/close`);
        await counsellorHome("Das Gespräch ist abgeschlossen.");
      } catch (err) {
        setError(error, err.message);
      }
    }, { class: "danger" }),
    error);
  const section = conversation(room, { canSend: !enquiry.closed, extra: actions });
  showConversation(`Gespräch: ${enquiry.topic || "Ohne Thema"}`, section, button("Zurück zur Übersicht", () => counsellorHome()));
}

// ---- start ---------------------------------------------------------------------------------------------------

function applyBranding() {
  const root = document.documentElement.style;
  if (config.colors?.primary) root.setProperty("--primary", config.colors.primary);
  if (config.colors?.secondary) root.setProperty("--secondary", config.colors.secondary);
  if (config.colors?.on_primary) root.setProperty("--on-primary", config.colors.on_primary);
  if (config.colors?.text) root.setProperty("--text", config.colors.text);
  if (config.logo_url) {
    const title = document.querySelector("header.site h1");
    title.prepend(h("img", { src: config.logo_url, alt: "" })); // decorative: the name follows as text
  }
  const exit = document.getElementById("quick-exit");
  if (config.quick_exit_url) exit.href = config.quick_exit_url;
}

async function ssoReturn() {
  const params = new URLSearchParams(location.search);
  const token = params.get("loginToken");
  history.replaceState(null, "", "/"); // the one-time token leaves the address bar and the history at once
  const login = await matrixLogin({ type: "m.login.token", token });
  await startSession("counsellor", login);
  await counsellorKeys();
}

async function main() {
  document.getElementById("quick-exit").addEventListener("click", quickExit);
  const response = await fetch("/config.json", { cache: "no-store" });
  config = await response.json();
  applyBranding();
  try {
    config.centre = await api("GET", "/centre");
  } catch {
    config.centre = null; // the landing page falls back to the deployed config's texts
  }
  if (new URLSearchParams(location.search).has("loginToken")) return ssoReturn();
  const saved = sessionStorage.getItem(SESSION_KEY);
  if (saved) {
    session = JSON.parse(saved);
    try {
      await startClient();
      return session.role === "seeker" ? seekerHome() : counsellorHome();
    } catch {
      await wipeLocal();
    }
  }
  landing();
}

main().catch((err) => {
  app().replaceChildren(h("p", { class: "error", role: "alert" }, `Die Seite konnte nicht geladen werden: ${err.message}`));
});
