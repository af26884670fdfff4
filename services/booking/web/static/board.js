/* The staff day board: sign in, a day per location in columns, run each appointment,
   and what needs a call: sessions about to go unbooked, messages that did not get through.
   The staff token lives in sessionStorage (this tab only), never in a URL. */
"use strict";

(() => {
  const data = JSON.parse(document.getElementById("page-data").textContent);
  const { el } = mc;
  const $ = (id) => document.getElementById(id);
  const KEY = "mesocycle.staff";
  const SHOWN = ["held", "booked", "confirmed", "checked_in", "completed", "no_show"];
  const STATUS = { held: "Held (patient to confirm)", booked: "Booked", confirmed: "Confirmed",
    checked_in: "Checked in", completed: "Completed", no_show: "No-show" };
  const BAD = new Set(["failed", "undelivered", "unknown"]);
  let session = JSON.parse(sessionStorage.getItem(KEY) || "null");
  let locations = [];
  const resources = {};
  let timer = null;
  let busy = false;
  let lastBoard = "";
  let skew = 0;  // the service's clock minus this browser's (demos move the service's)

  async function api(base, path, options = {}) {
    const headers = { Authorization: `Bearer ${session.access_token}`, ...(options.headers || {}) };
    const result = await mc.call(base + path, { ...options, headers });
    if (result.status === 401 && base === "") signOut("Your sign-in has ended: please sign in again.");
    return result;
  }

  function say(text) {
    $("status").textContent = text;
  }

  function signOut(message) {
    sessionStorage.removeItem(KEY);
    session = null;
    clearInterval(timer);
    $("board").hidden = true;
    $("signed-in").hidden = true;
    $("login").hidden = false;
    mc.signInProblem(message || "");
    mc.focus($("login-title"));
  }

  mc.wireSignIn({
    key: KEY,
    signedIn: (signedIn) => {
      session = signedIn;
      start();
    },
  });
  $("sign-out").addEventListener("click", () => signOut("You are signed out."));

  async function start() {
    $("login").hidden = true;
    $("board").hidden = false;
    $("signed-in").hidden = false;
    $("who").textContent = `Signed in as ${session.display_name} (${session.role})`;
    const found = await api("", "/v1/board/locations");
    if (!found.ok) return;
    locations = found.body;
    if (locations.length) skew = Date.parse(locations[0].now) - Date.now();
    $("location").replaceChildren(...locations.map((l) => el("option", { value: l.id, text: l.name })));
    if (!locations.length) return say("No location is set up yet: an admin adds one through the API.");
    $("day").value = locations[0].today;
    mc.focus($("board-title"));
    await refresh(true);
    clearInterval(timer);
    timer = setInterval(() => refresh(false), data.refreshSeconds * 1000);
  }

  const location = () => locations.find((l) => l.id === $("location").value) || locations[0];
  const columnKind = () => document.querySelector("input[name=columns]:checked").value;

  $("location").addEventListener("change", () => { $("day").value = location().today; refresh(true); });
  $("day").addEventListener("change", () => refresh(true));
  for (const radio of document.querySelectorAll("input[name=columns]")) {
    radio.addEventListener("change", () => refresh(true));
  }

  async function columnsOf(place, kind) {
    const key = `${place.id}:${kind}`;
    if (!resources[key]) {
      const found = await api("", `/v1/${kind}s?location_id=${place.id}`);
      if (!found.ok) return [];
      resources[key] = found.body;
    }
    let columns = resources[key];
    if (kind === "practitioner" && session.practitioner_id) {
      columns = columns.filter((c) => c.id === session.practitioner_id);
    }
    return columns;
  }

  async function refresh(force) {
    if (busy || !session || !locations.length) return;
    busy = true;
    try {
      const place = location();
      const kind = columnKind();
      const statuses = SHOWN.map((s) => `&status=${s}`).join("");
      const [columns, day, offers, practitioners, worklist, attention] = await Promise.all([
        columnsOf(place, kind),
        api("", `/v1/schedule?day=${$("day").value}&location_id=${place.id}${statuses}`),
        api("", `/v1/offers?day=${$("day").value}&location_id=${place.id}`),
        columnsOf(place, "practitioner"),
        api(data.plansUrl, "/v1/worklist?within_days=7"),
        api(data.notifyUrl, "/v1/messages/attention"),
      ]);
      if (!session) return;
      if (day.ok) renderBoard(columns, day.body, kind, place.time_zone, force);
      else say((day.body || {}).detail || "The day could not be loaded.");
      renderOffers(offers, place.time_zone, practitioners);
      renderWorklist(worklist);
      renderAttention(attention);
      $("updated").textContent = `Updated at ${new Date().toLocaleTimeString("en-GB")}`;
    } finally {
      busy = false;
    }
  }

  function renderBoard(columns, entries, kind, zone, force) {
    const key = JSON.stringify([columns, entries, kind]);
    if (!force && key === lastBoard) return;
    lastBoard = key;
    // Polling redraws the board: keep the keyboard where it was.
    const focused = document.activeElement && document.activeElement.dataset.focusKey;
    if (!columns.length) {
      $("columns").replaceChildren(el("p", { className: "hint", text: `No ${kind}s at this location.` }));
      return;
    }
    $("columns").replaceChildren(...columns.map((column) => {
      const mine = entries.filter((e) => e.appointment[`${kind}_id`] === column.id);
      const headingId = `column-${column.id}`;
      return el("section", { className: "column", "aria-labelledby": headingId },
        el("h2", { id: headingId, text: column.full_name || column.name }),
        el("p", { className: "hint", text: mine.length === 1 ? "1 appointment" : `${mine.length} appointments` }),
        el("ol", {}, mine.map((entry) => el("li", {}, appointmentCard(entry, zone)))));
    }));
    if (focused) {
      const again = document.querySelector(`[data-focus-key="${focused}"]`);
      if (again) again.focus();
    }
  }

  function smsTag(what, status) {
    const text = `${what}: ${status ? status.replace("_", " ") : "not sent yet"}`;
    return el("li", { className: `tag ${BAD.has(status) ? "bad" : status === "delivered" ? "ok" : ""}`, text });
  }

  function appointmentCard(entry, zone) {
    const a = entry.appointment;
    const name = entry.patient_name || "Patient";
    const started = Date.parse(a.starts_at) <= Date.now() + skew;
    const tags = [el("li", { className: "tag", text: STATUS[a.status] || a.status })];
    if (entry.numbing_cream_advised) tags.push(el("li", { className: "tag cream", text: "Numbing cream" }));
    tags.push(smsTag("Confirmation SMS", entry.confirmation_status));
    if (entry.reminder_status) tags.push(smsTag("Reminder SMS", entry.reminder_status));
    const actions = el("div", { className: "actions" });
    const step = (verb, label, className) => actions.append(el("button", {
      type: "button", className, text: label, "aria-label": `${label}: ${name}`,
      "data-focus-key": `${a.id}:${verb}`, onclick: (event) => move(a, verb, label, name, event.target),
    }));
    if (a.status === "booked" || a.status === "confirmed") {
      step("check-in", "Check in");
      if (started) step("no-show", "No-show", "danger");
    }
    if (a.status === "checked_in") step("complete", "Complete");
    const session = entry.session_number
      ? `Session ${entry.session_number} of ${entry.total_sessions}` : "Session";
    return el("article", { className: `appt s-${a.status}`, "aria-label": `${name}, ${mc.timeLabel(a.starts_at, zone)}` },
      el("p", { className: "time", text: `${mc.timeLabel(a.starts_at, zone)} - ${mc.timeLabel(a.ends_at, zone)}` }),
      el("h3", { text: name }),
      el("p", { text: entry.treatment ? `${session} - ${entry.treatment}` : session }),
      el("ul", { className: "tags", "aria-label": "Status" }, tags),
      actions);
  }

  async function move(appointment, verb, label, name, button) {
    button.disabled = true;
    const result = await api("", `/v1/appointments/${appointment.id}/${verb}`, {
      method: "POST", body: { expected_version: appointment.version },
    });
    say(result.ok ? `${name}: ${label.toLowerCase()} done.` : `${name}: ${(result.body || {}).detail || "not done"}`);
    await refresh(true);
  }

  function unavailable(result, service, url) {
    if (result.status === 0) return `${service} could not be reached at ${url}.`;
    if (result.status === 403) return `Your role does not show this list.`;
    return (result.body || {}).detail || `${service} answered ${result.status}.`;
  }

  const ENDED = { claimed: "Claimed", declined: "Declined", expired: "Expired", withdrawn: "Withdrawn" };

  /** Where an offer stands: live until its claim time (and how long is left, by the
   *  service's clock), or how and why it ended. */
  function offerState(offer, zone) {
    if (offer.status === "live") {
      const left = Math.ceil((Date.parse(offer.claim_by) - (Date.now() + skew)) / 60000);
      const until = `Live until ${mc.timeLabel(offer.claim_by, zone)}`;
      return { className: "tag live", text: left > 0 ? `${until} (${left} min left)` : `${until} (ending)` };
    }
    const at = offer.closed_at ? ` at ${mc.timeLabel(offer.closed_at, zone)}` : "";
    return { className: offer.status === "claimed" ? "tag ok" : "tag",
             text: `${ENDED[offer.status] || offer.status}${at}${offer.reason ? `: ${offer.reason}` : ""}` };
  }

  function renderOffers(result, zone, practitioners) {
    const box = $("offers");
    if (!result.ok) {
      return box.replaceChildren(el("p", { className: "hint", text: unavailable(result, "Booking", window.location.origin) }));
    }
    if (!result.body.length) {
      return box.replaceChildren(el("p", { className: "hint", text: "No freed time offered on this day." }));
    }
    const names = Object.fromEntries(practitioners.map((p) => [p.id, p.full_name]));
    box.replaceChildren(el("ul", {}, result.body.map((offer) => {
      const state = offerState(offer, zone);
      const who = names[offer.practitioner_id] ? ` with ${names[offer.practitioner_id]}` : "";
      return el("li", { className: `offer-line o-${offer.status}` },
        el("strong", { text: offer.patient_name || "Patient" }), ` - session ${offer.session_number}, `,
        `${mc.timeLabel(offer.freed_from, zone)}-${mc.timeLabel(offer.freed_until, zone)}${who}`,
        el("div", {}, el("span", { className: state.className, text: state.text })));
    })));
  }

  function renderWorklist(result) {
    const box = $("worklist");
    if (!result.ok) return box.replaceChildren(el("p", { className: "hint", text: unavailable(result, "Plans", data.plansUrl) }));
    if (!result.body.length) {
      return box.replaceChildren(el("p", { className: "hint", text: "Nothing to call about: every session whose window closes within 7 days is booked." }));
    }
    box.replaceChildren(el("ul", {}, result.body.map((item) => el("li", {},
      el("strong", { text: item.patient_name }), " - ",
      `session ${item.session_number} of ${item.total_sessions} (${item.protocol_key}), `,
      `window ${mc.dateLabel(item.earliest_date)} to ${mc.dateLabel(item.latest_date)}: `,
      el("span", { className: item.overdue ? "tag bad" : "tag", text: item.overdue ? "window closed" : `${item.days_left} days left` })))));
  }

  function renderAttention(result) {
    const box = $("attention");
    if (!result.ok) return box.replaceChildren(el("p", { className: "hint", text: unavailable(result, "Notify", data.notifyUrl) }));
    if (!result.body.length) return box.replaceChildren(el("p", { className: "hint", text: "No failed or undelivered messages." }));
    box.replaceChildren(el("ul", {}, result.body.map((m) => el("li", {},
      el("strong", { text: m.patient_name || "Patient" }), ` - ${m.kind.replace("_", " ")} `,
      el("span", { className: "tag bad", text: m.status }),
      m.error_code ? ` error ${m.error_code}` : "",
      m.to ? ` to ${m.to}` : "",
      m.status_reason ? ` (${m.status_reason})` : ""))));
  }

  if (session && session.valid_until > Date.now()) start();
  else signOut("");
})();
