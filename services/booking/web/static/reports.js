/* The staff Reports page: sign in (or come signed in from the board: the same token, in
   this tab's sessionStorage, never in a URL), pick a location and a period, and each
   report's chart comes as SVG drawn by the service; its CSV downloads on demand. */
"use strict";

(() => {
  const data = JSON.parse(document.getElementById("page-data").textContent);
  const { el } = mc;
  const $ = (id) => document.getElementById(id);
  const KEY = "mesocycle.staff";  // the board's key: one sign-in for both pages
  const DAYS_SHOWN = 30;  // the period shown first: the last 30 days
  let session = JSON.parse(sessionStorage.getItem(KEY) || "null");
  let locations = [];
  let asking = 0;  // the latest choice of location and period shown
  let pending = null;  // its charts' requests, dropped when another choice comes

  function say(text) {
    $("status").textContent = text;
  }

  function signOut(message) {
    sessionStorage.removeItem(KEY);
    session = null;
    $("reports").hidden = true;
    $("signed-in").hidden = true;
    $("login").hidden = false;
    mc.signInProblem(message || "");
    mc.focus($("login-title"));
  }

  /** A GET with the staff token, answering {ok, status, text, type, disposition}. */
  async function fetchText(path, accept, signal) {
    let response;
    try {
      response = await fetch(path, {
        headers: { Accept: accept, Authorization: `Bearer ${session.access_token}` }, signal,
      });
    } catch (error) {
      return { ok: false, status: 0, text: "" };
    }
    const text = await response.text();
    if (response.status === 401) signOut("Your sign-in has ended: please sign in again.");
    return {
      ok: response.ok, status: response.status, text,
      type: response.headers.get("Content-Type") || "",
      disposition: response.headers.get("Content-Disposition") || "",
    };
  }

  /** Why a report could not be shown, for people. */
  function problem(result) {
    if (result.status === 0) return "The server could not be reached.";
    if (result.status === 403) return "Your role does not show reports: front-desk staff and admins see them.";
    try {
      return JSON.parse(result.text).detail || `The server answered ${result.status}.`;
    } catch (error) {
      return `The server answered ${result.status}.`;
    }
  }

  mc.wireSignIn({
    key: KEY,
    signedIn: (signedIn) => {
      session = signedIn;
      start();
    },
  });
  $("sign-out").addEventListener("click", () => signOut("You are signed out."));

  /** The day ``days`` before a YYYY-MM-DD date, as YYYY-MM-DD. */
  function daysBefore(isoDate, days) {
    const [y, m, d] = isoDate.split("-").map(Number);
    return new Date(Date.UTC(y, m - 1, d - days)).toISOString().slice(0, 10);
  }

  async function start() {
    $("login").hidden = true;
    $("reports").hidden = false;
    $("signed-in").hidden = false;
    $("who").textContent = `Signed in as ${session.display_name} (${session.role})`;
    const found = await mc.call("/v1/board/locations", {
      headers: { Authorization: `Bearer ${session.access_token}` },
    });
    if (found.status === 401) return signOut("Your sign-in has ended: please sign in again.");
    if (!found.ok) return say((found.body || {}).detail || "The locations could not be loaded.");
    locations = found.body;
    $("location").replaceChildren(...locations.map((l) => el("option", { value: l.id, text: l.name })));
    if (!locations.length) return say("No location is set up yet: an admin adds one through the API.");
    $("to").value = locations[0].today;
    $("from").value = daysBefore(locations[0].today, DAYS_SHOWN - 1);
    mc.focus($("reports-title"));
    await show();
  }

  function query() {
    const params = new URLSearchParams({
      location_id: $("location").value, from: $("from").value, to: $("to").value,
    });
    return params.toString();
  }

  /** The SVG a chart answer holds, as a node of this page (parsed as XML: nothing runs). */
  function chartNode(text) {
    const parsed = new DOMParser().parseFromString(text, "image/svg+xml");
    const root = parsed.documentElement;
    if (!root || root.nodeName !== "svg" || parsed.getElementsByTagName("parsererror").length) {
      return null;
    }
    return document.importNode(root, true);
  }

  async function show() {
    if (!$("from").value || !$("to").value) return say("Choose the first and the last day.");
    const mine = ++asking;  // an answer to an older choice never replaces a newer one's
    if (pending) pending.abort();
    pending = new AbortController();
    say("Loading the reports...");
    const asked = query();
    const answers = await Promise.all(data.reports.map((name) =>
      fetchText(`/v1/board/reports/${name}/chart?${asked}`, "image/svg+xml", pending.signal)));
    if (!session || mine !== asking) return;
    const results = data.reports.map((name, index) => {
      const chart = answers[index].ok ? chartNode(answers[index].text) : null;
      $(`chart-${name}`).replaceChildren(
        chart || el("p", { className: "notice notice-error", text: problem(answers[index]) }));
      return Boolean(chart);
    });
    const place = locations.find((l) => l.id === $("location").value);
    say(results.every(Boolean)
      ? `Reports for ${place ? place.name : "the location"}, ${mc.dateLabel($("from").value)} to ${mc.dateLabel($("to").value)}.`
      : "Some reports could not be shown: see each one.");
  }

  $("period").addEventListener("submit", (event) => {
    event.preventDefault();
    show();
  });
  $("location").addEventListener("change", () => show());

  for (const button of document.querySelectorAll("button[data-csv]")) {
    button.addEventListener("click", async () => {
      const name = button.dataset.csv;
      button.disabled = true;
      const result = await fetchText(`/v1/reports/${name}?${query()}`, "text/csv");
      button.disabled = false;
      if (!session) return;
      if (!result.ok) return say(problem(result));
      const named = /filename="([^"]+)"/.exec(result.disposition);
      mc.download(named ? named[1] : `${name}.csv`, result.text, "text/csv");
      say(`${named ? named[1] : name} downloaded.`);
    });
  }

  if (session && session.valid_until > Date.now()) start();
  else signOut("");
})();
