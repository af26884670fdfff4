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
  const SLOT_LIMIT = 200; // the most free times the API lists for a session
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

  /** Buttons off while a call runs, and back on after (those off before stay off). */
  function disableAll(container, disabled) {
    for (const button of container.querySelectorAll(disabled ? "button:enabled" : "button[data-busy]")) {
      button.disabled = disabled;
      button.toggleAttribute("data-busy", disabled);
    }
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

  /** Free times of a session's window: a day picker over the window's days (each saying
   *  how many times are free), then the chosen day's times by part of the day. `taken` is a
   *  time just lost to someone else (never offered again here); `day` the day to show first. */
  async function showSlots(request, container, { mode, appointment, taken, lead, day }) {
    container.replaceChildren(el("p", { className: "hint", text: "Looking for free times..." }));
    const found = await api(`/requests/${request.id}/slots`);
    if (!found.ok) {
      container.replaceChildren(el("p", { text: (found.body || {}).detail || "Free times could not be loaded." }));
      return;
    }
    const seen = new Set();
    const slots = found.body.filter((s) => {
      const key = Date.parse(s.starts_at);
      if (seen.has(key) || (taken && key === Date.parse(taken.starts_at))) return false;
      if (appointment && key === Date.parse(appointment.starts_at)) return false;
      seen.add(key);
      return true;
    }).sort((a, b) => Date.parse(a.starts_at) - Date.parse(b.starts_at));
    const parts = lead ? [lead] : [];
    if (!slots.length) {
      parts.push(el("div", { className: "notice notice-warn", role: "status" },
        el("h4", { text: "No free times left in this window" }),
        el("p", { text: `Nothing is free between ${mc.dateLabel(request.earliest_date)} and ${mc.dateLabel(request.latest_date)}.` }),
        el("p", {}, "Please ", ...callUs(), " and we will find you a time.")));
      container.replaceChildren(...parts);
      return;
    }
    const byDay = new Map();
    for (const slot of slots) {
      const date = mc.localDate(slot.starts_at, zone);
      if (!byDay.has(date)) byDay.set(date, []);
      byDay.get(date).push(slot);
    }
    const choose = (slot) => (mode === "move" ? proposeMove(request, appointment, slot, container)
      : hold(request, slot, container));
    // The day asked for, else the lost time's, else the first with free times.
    const wanted = [day, taken && mc.localDate(taken.starts_at, zone)];
    const first = wanted.find((d) => d && byDay.has(d)) || byDay.keys().next().value;
    parts.push(dayPicker(request, container, {
      byDay, moreFrom: listedUpTo(request, found.body), first, choose,
      title: mode === "move" ? "Pick the new day" : "Pick a day",
    }));
    container.replaceChildren(...parts);
  }

  /** The API lists at most SLOT_LIMIT free times (the preferred practitioner's first, then
   *  everyone's, earliest first): when it did, days from the one it stopped in on may have
   *  more times than listed. Answers that first day, or null when the list is complete. */
  function listedUpTo(request, listed) {
    if (listed.length < SLOT_LIMIT) return null;
    const preferred = request.preferred_practitioner_id;
    if (preferred && listed.every((s) => s.practitioner_id === preferred)) return "0000-00-00";
    return mc.localDate(listed[listed.length - 1].starts_at, zone);
  }

  /** The days to offer: the window's (none before today), and any day a time falls on. */
  function windowDays(request, byDay) {
    const today = mc.localDate(new Date(now()).toISOString(), zone);
    const days = new Set(byDay.keys());
    for (let d = request.earliest_date > today ? request.earliest_date : today; d <= request.latest_date; d = nextDate(d)) {
      days.add(d);
    }
    return [...days].sort();
  }

  function nextDate(isoDate) {
    const [y, m, d] = isoDate.split("-").map(Number);
    return new Date(Date.UTC(y, m - 1, d + 1)).toISOString().slice(0, 10);
  }

  function shortDate(isoDate, options) {
    const [y, m, d] = isoDate.split("-").map(Number);
    return new Intl.DateTimeFormat("en-GB", { ...options, timeZone: "UTC" }).format(new Date(Date.UTC(y, m - 1, d)));
  }

  const plural = (n, word) => `${n} ${word}${n === 1 ? "" : "s"}`;

  /** A day's free times, or why none show: for its button and for the status line. */
  function dayFacts(date, count, moreFrom) {
    const more = moreFrom !== null && date >= moreFrom;
    const label = mc.dateLabel(date, true);
    if (count && more) {
      return { note: `${count}+ free times`, said: `${label}: ${plural(count, "free time")} listed here, maybe more` };
    }
    if (count) return { note: plural(count, "free time"), said: `${label}: ${plural(count, "free time")}` };
    if (more) return { note: "Call to book", said: `${label}: times not listed here` };
    return { note: "No free time", said: `${label}: no free time` };
  }

  /** Days as toggle buttons (one tab stop, on the chosen day; Left/Right, Home/End move
   *  between the days with free times; Enter or Space chooses), a live status saying what
   *  the chosen day offers, then its times under Morning, Afternoon and Evening, each a
   *  group labelled by its heading. */
  function dayPicker(request, container, { byDay, moreFrom, first, choose, title }) {
    const base = container.id;
    const status = el("p", { className: "picker-status", role: "status", "aria-live": "polite" });
    const times = el("div", { className: "times", id: `${base}-times` });
    const facts = new Map();
    const buttons = windowDays(request, byDay).map((date) => {
      const count = (byDay.get(date) || []).length;
      const fact = dayFacts(date, count, moreFrom);
      facts.set(date, fact);
      return el("button", {
        type: "button", className: count ? "day" : "day day-none", "data-day": date,
        "aria-pressed": "false", "aria-controls": times.id, disabled: !count, tabindex: "-1",
        onclick: () => show(date),
      }, el("span", { className: "day-name", text: shortDate(date, { weekday: "short" }) }), " ",
      el("span", { className: "day-date", text: shortDate(date, { day: "numeric", month: "short" }) }), " ",
      el("span", { className: "day-count", text: fact.note }));
    });
    const open = buttons.filter((b) => !b.disabled);

    function rove(target) {
      for (const b of open) b.tabIndex = b === target ? 0 : -1;
    }

    function show(date) {
      const chosen = buttons.find((b) => b.dataset.day === date);
      for (const b of buttons) b.setAttribute("aria-pressed", String(b === chosen));
      rove(chosen);
      times.replaceChildren(...dayTimes(date, byDay.get(date) || [], moreFrom, `${base}-${date}`, choose));
      // Focus stays on the day; the status says what it offers (read out once shown).
      status.textContent = facts.get(date).said;
    }

    const group = el("div", {
      className: "days", role: "group", "aria-labelledby": `${base}-days-title`,
      "aria-describedby": `${base}-days-hint`,
      onkeydown: (event) => {
        const at = open.indexOf(document.activeElement);
        const moves = { ArrowLeft: at - 1, ArrowRight: at + 1, Home: 0, End: open.length - 1 };
        if (at < 0 || !(event.key in moves) || event.altKey || event.ctrlKey || event.metaKey) return;
        event.preventDefault();
        const target = open[Math.max(0, Math.min(open.length - 1, moves[event.key]))];
        rove(target);
        target.focus();
      },
    }, buttons);
    const parts = [
      el("h4", { id: `${base}-days-title`, text: title }),
      el("p", { className: "hint", id: `${base}-days-hint`,
                text: "Each day says how many times are free. On a keyboard, arrow keys move between days." }),
      group,
    ];
    if (buttons.some((b) => b.disabled && facts.get(b.dataset.day).note === "Call to book")) {
      parts.push(el("p", { className: "hint" }, "For a day marked \u201cCall to book\u201d, ", ...callUs(), "."));
    }
    parts.push(status, times);
    show(first);
    return el("div", { className: "picker" }, parts);
  }

  const PARTS_OF_DAY = [["morning", "Morning", 0], ["afternoon", "Afternoon", 12], ["evening", "Evening", 17]];

  /** The hour (0-23) an instant shows where the patient is. */
  function hourOf(iso) {
    return Number(mc.timeLabel(iso, zone).slice(0, 2)) % 24;
  }

  function dayTimes(date, daySlots, moreFrom, base, choose) {
    const nodes = [];
    PARTS_OF_DAY.forEach(([key, name, from], index) => {
      const until = index + 1 < PARTS_OF_DAY.length ? PARTS_OF_DAY[index + 1][2] : 24;
      const these = daySlots.filter((s) => hourOf(s.starts_at) >= from && hourOf(s.starts_at) < until);
      if (!these.length) return;
      const headingId = `${base}-${key}`;
      nodes.push(el("div", { className: "part", role: "group", "aria-labelledby": headingId },
        el("h5", { id: headingId, text: name }),
        el("div", { className: "slots" }, these.map((slot) => el("button", {
          type: "button",
          "aria-label": `${when(slot.starts_at)} ${withWhom(slot)}`,
          text: mc.timeLabel(slot.starts_at, zone),
          onclick: () => choose(slot),
        })))));
    });
    if (moreFrom !== null && date >= moreFrom) {
      nodes.push(el("p", { className: "hint" }, "Not every free time of this day fits in this list. For another time, ",
        ...callUs(), "."));
    }
    return nodes;
  }

  function takenNotice(slot, detail) {
    return el("div", { className: "notice notice-warn", role: "alert" },
      el("h4", { text: "That time was just taken" }),
      el("p", { text: `${when(slot.starts_at)} is no longer free (${detail}). Please pick another time.` }));
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
      await showSlots(request, container, { mode: "book", taken: slot, lead });
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
        showSlots(request, container, { mode: "book", day: mc.localDate(appointment.starts_at, zone) });
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
          await showSlots(request, container, { mode: "move", appointment, taken: slot, lead });
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
