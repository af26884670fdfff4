/* What both pages share: building DOM safely, calling the APIs, formatting times. */
"use strict";

const mc = (() => {
  /** An element with attributes and children; text is always set as text, never HTML. */
  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (key === "text") node.textContent = value;
      else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
      else if (key === "className") node.className = value;
      else node.setAttribute(key, value === true ? "" : String(value));
    }
    for (const child of children.flat()) {
      if (child === null || child === undefined || child === false) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  /** A fetch that answers {ok, status, body}; a network failure is status 0. */
  async function call(url, { method = "GET", headers = {}, body } = {}) {
    const init = { method, headers: { Accept: "application/json", ...headers } };
    if (body !== undefined) {
      init.body = JSON.stringify(body);
      init.headers["Content-Type"] = "application/json";
    }
    let response;
    try {
      response = await fetch(url, init);
    } catch (error) {
      return { ok: false, status: 0, body: { detail: "the server could not be reached" } };
    }
    let parsed = null;
    const type = response.headers.get("Content-Type") || "";
    if (type.includes("json")) parsed = await response.json();
    return { ok: response.ok, status: response.status, body: parsed };
  }

  /** A fresh Idempotency-Key, so a retried hold is the same hold. */
  function newKey() {
    if (window.crypto && crypto.randomUUID) return crypto.randomUUID();
    const bytes = crypto.getRandomValues(new Uint8Array(16));
    return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  }

  function formatter(zone, options) {
    try {
      return new Intl.DateTimeFormat("en-GB", { ...options, timeZone: zone || undefined });
    } catch (error) {
      return new Intl.DateTimeFormat("en-GB", options);
    }
  }

  /** "Tuesday 1 December" for an instant, where the reader is. */
  function dayLabel(iso, zone) {
    return formatter(zone, { weekday: "long", day: "numeric", month: "long" }).format(new Date(iso));
  }

  /** "Tue 27 Jan" for an instant, where the reader is. */
  function shortDayLabel(iso, zone) {
    return formatter(zone, { weekday: "short", day: "numeric", month: "short" }).format(new Date(iso));
  }

  /** "Tuesday" for an instant, where the reader is. */
  function weekdayLabel(iso, zone) {
    return formatter(zone, { weekday: "long" }).format(new Date(iso));
  }

  /** "10:00" for an instant, where the reader is. */
  function timeLabel(iso, zone) {
    return formatter(zone, { hour: "2-digit", minute: "2-digit", hour12: false }).format(new Date(iso));
  }

  /** The local date (YYYY-MM-DD) of an instant in a zone: to group slots by day. */
  function localDate(iso, zone) {
    const parts = {};
    for (const p of formatter(zone, { year: "numeric", month: "2-digit", day: "2-digit" })
      .formatToParts(new Date(iso))) parts[p.type] = p.value;
    return `${parts.year}-${parts.month}-${parts.day}`;
  }

  /** "2 December" for a calendar date (YYYY-MM-DD), whatever the reader's zone. */
  function dateLabel(isoDate, withWeekday) {
    const [y, m, d] = isoDate.split("-").map(Number);
    const options = { day: "numeric", month: "long", timeZone: "UTC" };
    if (withWeekday) options.weekday = "long";
    return new Intl.DateTimeFormat("en-GB", options).format(new Date(Date.UTC(y, m - 1, d)));
  }

  function icsText(value) {
    return String(value).replace(/\\/g, "\\\\").replace(/\n/g, "\\n").replace(/([,;])/g, "\\$1");
  }

  function icsInstant(iso) {
    return new Date(iso).toISOString().replace(/[-:]/g, "").replace(/\.\d{3}/, "");
  }

  /** An RFC 5545 calendar with one event, for the patient's calendar app. */
  function icsFile({ uid, startsAt, endsAt, summary, location, description }) {
    const lines = [
      "BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//mesocycle//self-booking//EN",
      "CALSCALE:GREGORIAN", "METHOD:PUBLISH", "BEGIN:VEVENT",
      `UID:${uid}@mesocycle`, `DTSTAMP:${icsInstant(new Date().toISOString())}`,
      `DTSTART:${icsInstant(startsAt)}`, `DTEND:${icsInstant(endsAt)}`,
      `SUMMARY:${icsText(summary)}`,
    ];
    if (location) lines.push(`LOCATION:${icsText(location)}`);
    if (description) lines.push(`DESCRIPTION:${icsText(description)}`);
    lines.push("END:VEVENT", "END:VCALENDAR");
    return lines.join("\r\n") + "\r\n";
  }

  /** Offer a text as a file download, without putting anything in a URL of ours. */
  function download(name, text, type) {
    const url = URL.createObjectURL(new Blob([text], { type }));
    const link = el("a", { href: url, download: name, hidden: true });
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(url), 1000);
  }

  /** Move focus to a heading or panel after the view changed, for screen readers. */
  function focus(node) {
    if (!node) return;
    if (!node.hasAttribute("tabindex")) node.setAttribute("tabindex", "-1");
    node.focus();
  }

  /** Say on the staff sign-in form why a sign-in failed or ended ("": nothing). */
  function signInProblem(text) {
    const box = document.getElementById("login-problem");
    box.textContent = text;
    box.hidden = !text;
  }

  /** The staff sign-in form, the same on every staff page (templates/staff_sign_in.html):
   *  a signed-in session (its token and who) is kept in this tab under `key`, then
   *  `signedIn(session)` runs; a refusal is said on the form (signInProblem). */
  function wireSignIn({ key, signedIn }) {
    const form = document.getElementById("login-form");
    const email = document.getElementById("email");
    const password = document.getElementById("password");
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const body = { email: email.value.trim(), password: password.value };
      if (!body.email || !body.password) return signInProblem("Enter your email and your password.");
      const button = form.querySelector("button");
      button.disabled = true;
      const result = await call("/v1/auth/login", { method: "POST", body });
      button.disabled = false;
      password.value = "";
      if (!result.ok) {
        signInProblem((result.body || {}).detail || "Sign-in failed.");
        email.focus();
        return;
      }
      // Counted on this browser's clock: the service's may differ (a demo's time travel).
      const session = { ...result.body, valid_until: Date.now() + result.body.expires_in * 1000 };
      sessionStorage.setItem(key, JSON.stringify(session));
      signInProblem("");
      signedIn(session);
    });
  }

  return {
    el, call, newKey, dayLabel, shortDayLabel, weekdayLabel, timeLabel, localDate, dateLabel,
    icsFile, download, focus, signInProblem, wireSignIn,
  };
})();
