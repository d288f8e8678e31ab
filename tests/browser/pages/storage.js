// Writes something into every kind of storage a web app can leave behind, and removes it all again on request:
// what the web app's logout must do (tests/browser/test_harness.py reads it with the harness).
"use strict";

function openDatabase(name) {
  return new Promise((resolve, reject) => {
    const request = indexedDB.open(name, 1);
    request.onupgradeneeded = () => request.result.createObjectStore("keys");
    request.onsuccess = () => { request.result.close(); resolve(); };
    request.onerror = () => reject(request.error);
  });
}

function deleteDatabase(name) {
  return new Promise((resolve, reject) => {
    const request = indexedDB.deleteDatabase(name);
    request.onsuccess = () => resolve();
    request.onerror = () => reject(request.error);
  });
}

async function write() {
  await openDatabase("matrix-js-sdk:crypto");
  await openDatabase("counselkit-session");
  localStorage.setItem("mx_device_id", "ABCDEFG");
  sessionStorage.setItem("counselkit.session", "{\"role\":\"seeker\"}");
  const cache = await caches.open("counselkit-v1");
  await cache.put("/cached", new Response("x"));
  await navigator.serviceWorker.register("sw.js");
  document.cookie = "counselkit_hint=1; path=/; SameSite=Strict";
}

async function wipe() {
  for (const db of await indexedDB.databases()) await deleteDatabase(db.name);
  localStorage.clear();
  sessionStorage.clear();
  for (const name of await caches.keys()) await caches.delete(name);
  for (const registration of await navigator.serviceWorker.getRegistrations()) await registration.unregister();
  document.cookie = "counselkit_hint=; path=/; max-age=0";
}

window.counselkitWipe = wipe;
window.counselkitWritten = write().then(() => { document.getElementById("state").textContent = "geschrieben"; });
