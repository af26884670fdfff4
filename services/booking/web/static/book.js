/* The patient's self-booking page: open sessions, free times, hold, confirm, move, cancel.
   Every call carries the link's token in X-Patient-Token; nothing personal goes in a URL. */
"use strict";

(() => {
  const data = JSON.parse(document.getElementById("page-data").textContent);
  const { el } = mc;
  const $ = (id) => document.getElementById(id);
  const zone = data.timeZone;
  const clinic = data.locations[0] || null;
  const loadedAt = Date.now();
  const requests = { ...(data.requests || {}) };
  const DAYS_SHOWN = 4;
  let booked = null;

  const now = () => Date.parse(data.now) + (Date.now() - loadedAt);
  const when = (iso) => `${mc.dayLabel(iso, zone)} at ${mc.timeLabel(iso, zone)}`;
  const sessionText = (r) => (r ? `Session ${r.session_number} of ${r.total_sessions}` : "Session");
  const windowText = (r) =>
    `Book between ${mc.dateLabel(r.earliest_date)} and ${mc.dateLabel(r.latest_date)}`;
  const practitioner = (id) => data.practitioners[id] || "a practitioner";
  const room = (id) => data.rooms[id] || "";
  const withWhom = (x) => `with ${practitioner(x.practitioner_id)}${room(x.room_id) ? `, ${room(x.room_id)}` : ""}`;

  function callUs() {
    if (!clinic || !clinic.phone) return ["call the clinic"];
    return ["call ", el("a", { href: `tel:${clinic.phone}`, text: clinic.phone }), ` (${clinic.name})`];
  }

  async function api(path, options = {}) {
    const headers = { "X-Patient-Token": data.token, ...(options.headers || {}) };
    const result = await mc.call(`/v1/self-booking${path}`, { ...options, headers });
    if (result.status === 401) linkStopped(result.body || {});
    if (result.status === 429) {
      showProblem("Please wait a moment", (result.body || {}).detail || "Too many requests.");
    }
    return result;
  }

  function say(text) {
    $("status").textContent = text;
  }

  function showProblem(title, detail) {
    const box = $("problem");
    box.replaceChildren(el("h2", { text: title }), el("p", { text: detail }),
      el("p", {}, "Need help? Please ", ...callUs(), "."));
    box.hidden = false;
    mc.focus(box);
  }

  function linkStopped(body) {
    $("lists").hidden = true;
    $("confirmation").hidden = true;
    const expired = body.title === "Link expired";
    showProblem(expired ? "This booking link has expired" : "This booking link does not work",
      body.detail || "Ask the clinic for a new link.");
  }

  function disableAll(container, disabled) {
    for (const button of container.querySelectorAll("button")) button.disabled = disabled;
  }

  async function load() {
    const [open, mine] = await Promise.all([api("/requests"), api("/appointments")]);
    if (!open.ok || !mine.ok) {
      if (open.status !== 401 && mine.status !== 401 && open.status !== 429) {
        showProblem("We could not load your sessions", (open.body || mine.body || {}).detail || "");
      }
      return;
    }
    $("loading").hidden = true;
    for (const r of open.body) requests[r.id] = r;
    const upcoming = mine.body.filter((a) => ["held", "booked", "confirmed"].includes(a.status));
    renderAppointments(upcoming);
    renderRequests(open.body.sort((a, b) => a.session_number - b.session_number), upcoming);
  }

  function renderRequests(open, upcoming) {
    const list = $("requests");
    if (!open.length) {
      const all = upcoming.length ? "All your sessions for now are booked." : "There is nothing to book with this link any more.";
      list.replaceChildren(el("li", { className: "card" }, el("p", { text: all }),
        el("p", {}, "To book another session, ", ...callUs(), ".")));
      return;
    }
    list.replaceChildren(...open.map((r) => {
      const picker = el("div", { id: `slots-${r.id}`, hidden: true });
      const choose = el("button", {
        type: "button", "aria-expanded": "false", "aria-controls": picker.id,
        text: "Choose a time",
        onclick: () => {
          const opening = picker.hidden;
          picker.hidden = !opening;
          choose.setAttribute("aria-expanded", String(opening));
          if (opening) showSlots(r, picker, { mode: "book" });
        },
      });
      const extra = [`${r.session_minutes} minutes`];
      if (r.numbing_cream_advised) extra.push("numbing cream advised: we will text you when to apply it");
      return el("li", { className: "card", id: `request-${r.id}` },
        el("h3", { text: sessionText(r) }),
        el("p", { text: windowText(r) }),
        el("p", { className: "hint", text: extra.join(" - ") }),
        el("div", { className: "actions" }, choose), picker);
    }));
  }

  /** Free times of a session's window, a day per group; `after` skips times up to a taken one. */
  async function showSlots(request, container, { mode, appointment, after, lead }) {
    container.replaceChildren(el("p", { className: "hint", text: "Looking for free times..." }));
    const found = await api(`/requests/${request.id}/slots`);
    if (!found.ok) {
      container.replaceChildren(el("p", { text: (found.body || {}).detail || "Free times could not be loaded." }));
      return;
    }
    const seen = new Set();
    const slots = found.body.filter((s) => {
      const key = Date.parse(s.starts_at);
      if (seen.has(key) || (after && key <= Date.parse(after))) return false;
      if (appointment && key === Date.parse(appointment.starts_at)) return false;
      seen.add(key);
      return true;
    });
    const parts = lead ? [lead] : [];
    if (!slots.length) {
      parts.push(el("div", { className: "notice notice-warn", role: "status" },
        el("h4", { text: "No free times left in this window" }),
        el("p", { text: `Nothing is free between ${mc.dateLabel(request.earliest_date)} and ${mc.dateLabel(request.latest_date)}.` }),
        el("p", {}, "Please ", ...callUs(), " and we will find you a time.")));
      container.replaceChildren(...parts);
      return;
    }
    const days = new Map();
    for (const slot of slots) {
      const day = mc.localDate(slot.starts_at, zone);
      if (!days.has(day)) days.set(day, []);
      days.get(day).push(slot);
    }
    const groups = [...days.entries()].map(([day, daySlots], index) => {
      const headingId = `${container.id}-day-${day}`;
      return el("div", { className: "day", hidden: index >= DAYS_SHOWN },
        el("h4", { id: headingId, text: mc.dateLabel(day, true) }),
        el("div", { className: "slots", role: "group", "aria-labelledby": headingId },
          daySlots.map((slot) => el("button", {
            type: "button",
            "aria-label": `${when(slot.starts_at)} ${withWhom(slot)}`,
            text: mc.timeLabel(slot.starts_at, zone),
            onclick: () => (mode === "move" ? proposeMove(request, appointment, slot, container)
              : hold(request, slot, container)),
          }))));
    });
    parts.push(el("p", { className: "hint", text: mode === "move" ? "Pick the new time:" : "Pick a time:" }), ...groups);
    if (groups.length > DAYS_SHOWN) {
      const more = el("button", {
        type: "button", className: "secondary", text: "Show more days",
        onclick: () => {
          const next = groups.find((g) => g.hidden);
          for (const g of groups) g.hidden = false;
          more.remove();
          mc.focus(next.querySelector("h4"));
        },
      });
      parts.push(el("div", { className: "actions" }, more));
    }
    container.replaceChildren(...parts);
  }

  function takenNotice(slot, detail) {
    return el("div", { className: "notice notice-warn", role: "alert" },
      el("h4", { text: "That time was just taken" }),
      el("p", { text: `${when(slot.starts_at)} is no longer free (${detail}). Here are the next free times.` }));
  }

  async function hold(request, slot, container) {
    disableAll(container, true);
    say(`Holding ${when(slot.starts_at)} for you...`);
    const result = await api("/holds", {
      method: "POST",
      headers: { "Idempotency-Key": mc.newKey() },
      body: { booking_request_id: request.id, practitioner_id: slot.practitioner_id,
              room_id: slot.room_id, starts_at: slot.starts_at },
    });
    say("");
    if (result.ok) return renderHeld(request, result.body, container);
    if (result.status === 409 || result.status === 422) {
      const lead = takenNotice(slot, (result.body || {}).detail || "taken");
      await showSlots(request, container, { mode: "book", after: slot.starts_at, lead });
      mc.focus(lead);
      return;
    }
    disableAll(container, false);
    if (result.status !== 401 && result.status !== 429) {
      showProblem("The time could not be held", (result.body || {}).detail || "Please try again.");
    }
  }

  function renderHeld(request, appointment, container) {
    const heading = el("h4", { text: `Held for you until ${mc.timeLabel(appointment.hold_expires_at, zone)}` });
    const confirm = el("button", {
      type: "button", text: "Confirm booking",
      onclick: () => confirmHold(request, appointment, container),
    });
    const other = el("button", {
      type: "button", className: "secondary", text: "Choose another time",
      onclick: async () => {
        disableAll(container, true);
        await api(`/appointments/${appointment.id}/cancel`, { method: "POST" });
        showSlots(request, container, { mode: "book" });
      },
    });
    container.replaceChildren(el("div", { className: "notice notice-ok", role: "group", "aria-label": "Your held time" },
      heading, el("p", { text: `${when(appointment.starts_at)} ${withWhom(appointment)}.` }),
      el("div", { className: "actions" }, confirm, other)));
    mc.focus(heading);
  }

  async function confirmHold(request, appointment, container) {
    disableAll(container, true);
    const result = await api(`/appointments/${appointment.id}/confirm`, { method: "POST" });
    if (result.ok) return showConfirmation(result.body, request, false);
    if (result.status === 409) {
      const lead = el("div", { className: "notice notice-warn", role: "alert" },
        el("h4", { text: "Your hold ran out" }),
        el("p", { text: `${(result.body || {}).detail || ""}. Please pick a time again.` }));
      await showSlots(request, container, { mode: "book", lead });
      mc.focus(lead);
    } else if (result.status !== 401) {
      disableAll(container, false);
      showProblem("The booking could not be confirmed", (result.body || {}).detail || "Please try again.");
    }
  }

  function showConfirmation(appointment, request, moved) {
    booked = { appointment, request };
    $("lists").hidden = true;
    $("problem").hidden = true;
    const facts = [
      ["Session", sessionText(request)],
      ["When", when(appointment.starts_at)],
      ["With", practitioner(appointment.practitioner_id)],
      ["Room", room(appointment.room_id)],
      ["Where", clinic ? clinic.name : ""],
    ].filter(([, value]) => value);
    $("confirmation-facts").replaceChildren(...facts.flatMap(([k, v]) => [el("dt", { text: k }), el("dd", { text: v })]));
    $("confirmation-title").textContent = moved ? "Your session has moved" : "You are booked";
    $("confirmation").hidden = false;
    mc.focus($("confirmation-title"));
  }

  function calendarFile(appointment, request) {
    const text = mc.icsFile({
      uid: appointment.id, startsAt: appointment.starts_at, endsAt: appointment.ends_at,
      summary: `${clinic ? clinic.name : "Clinic"}: ${sessionText(request)}`,
      location: clinic ? clinic.name : "",
      description: `${withWhom(appointment)}. To change it, call ${clinic && clinic.phone ? clinic.phone : "the clinic"}.`,
    });
    const number = request ? request.session_number : "";
    mc.download(`session-${number}.ics`, text, "text/calendar");
  }

  function renderAppointments(upcoming) {
    $("upcoming").hidden = upcoming.length === 0;
    $("appointments").replaceChildren(...upcoming.map((a) => {
      const request = requests[a.booking_request_id];
      const actions = el("div", { className: "actions" });
      const picker = el("div", { id: `move-${a.id}`, hidden: true });
      const changeable = Date.parse(a.starts_at) - now() > data.cutoffHours * 3600 * 1000;
      const status = { held: `Held for you until ${a.hold_expires_at ? mc.timeLabel(a.hold_expires_at, zone) : "soon"}: confirm it to book it`,
                       booked: "Booked", confirmed: "Booked, and you confirmed you will come" }[a.status];
      const card = el("li", { className: "card", id: `appointment-${a.id}` },
        el("h3", { text: sessionText(request) }),
        el("p", { text: `${when(a.starts_at)} ${withWhom(a)}` }),
        el("p", { className: "hint", text: status }), actions, picker);
      if (a.status === "held") {
        actions.append(el("button", { type: "button", text: "Confirm booking",
          onclick: () => { picker.hidden = false; confirmHold(request, a, picker); } }));
      } else {
        actions.append(el("button", { type: "button", className: "secondary", text: "Add to calendar (.ics)",
          onclick: () => calendarFile(a, request) }));
      }
      if (changeable && request) {
        actions.append(el("button", { type: "button", className: "secondary", text: "Move to another time",
          "aria-controls": picker.id,
          onclick: () => { picker.hidden = false; showSlots(request, picker, { mode: "move", appointment: a }); } }));
        actions.append(el("button", { type: "button", className: "danger", text: "Cancel session",
          onclick: () => askCancel(a, request, actions) }));
      } else if (!changeable) {
        card.append(el("p", { className: "hint" },
          `This session is less than ${data.cutoffHours} hours away. To move or cancel it, `, ...callUs(), "."));
      }
      return card;
    }));
  }

  function askCancel(appointment, request, actions) {
    const question = el("p", { text: `Cancel ${sessionText(request).toLowerCase()} on ${when(appointment.starts_at)}?` });
    const keep = el("button", { type: "button", className: "secondary", text: "Keep it", onclick: () => load() });
    const yes = el("button", {
      type: "button", className: "danger", text: "Yes, cancel it",
      onclick: async () => {
        disableAll(actions, true);
        const result = await api(`/appointments/${appointment.id}/cancel`, { method: "POST" });
        if (result.ok) {
          say(`${sessionText(request)} is cancelled. You can book it again below.`);
          await load();
          mc.focus($("open-title"));
        } else if (result.status !== 401) {
          showProblem("This session cannot be cancelled online", (result.body || {}).detail || "");
        }
      },
    });
    actions.replaceChildren(question, yes, keep);
    mc.focus(question);
  }

  function proposeMove(request, appointment, slot, container) {
    const heading = el("h4", { text: `Move to ${when(slot.starts_at)}?` });
    const move = el("button", {
      type: "button", text: "Move it",
      onclick: async () => {
        disableAll(container, true);
        const result = await api(`/appointments/${appointment.id}/reschedule`, {
          method: "POST",
          body: { starts_at: slot.starts_at, practitioner_id: slot.practitioner_id,
                  room_id: slot.room_id, expected_version: appointment.version },
        });
        if (result.ok) return showConfirmation(result.body, request, true);
        if (result.status === 409 || result.status === 422) {
          const lead = takenNotice(slot, (result.body || {}).detail || "taken");
          await showSlots(request, container, { mode: "move", appointment, after: slot.starts_at, lead });
          mc.focus(lead);
        }
      },
    });
    const keep = el("button", { type: "button", className: "secondary", text: "Keep the current time",
      onclick: () => { container.hidden = true; container.replaceChildren(); } });
    container.replaceChildren(el("div", { className: "notice notice-ok", role: "group", "aria-label": "New time" },
      heading, el("p", { text: withWhom(slot) }), el("div", { className: "actions" }, move, keep)));
    mc.focus(heading);
  }

  $("add-to-calendar").addEventListener("click", () => booked && calendarFile(booked.appointment, booked.request));
  $("back-to-list").addEventListener("click", async () => {
    // Shown again only once reloaded: a click on the stale list would be lost mid-render.
    $("confirmation").hidden = true;
    $("loading").hidden = false;
    await load();
    $("lists").hidden = false;
    mc.focus($("page-title"));
  });
  load();
})();
