// An empty service worker: its registration is what the storage reader must find.
"use strict";
self.addEventListener("install", () => self.skipWaiting());
