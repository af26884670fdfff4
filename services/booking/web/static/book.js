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
  let booked = null;
  let offerShown = null; // the open session whose free times the offer panel shows
  let courseFor = null; // the appointment whose rest of course is proposed
  const showing = new WeakMap(); // container -> the latest showSlots call filling it

  const now = () => Date.parse(data.now) + (Date.now() - loadedAt);
  const when = (iso) => `${mc.dayLabel(iso, zone)} at ${mc.timeLabel(iso, zone)}`;
  const sessionText = (r) => (r ? `Session ${r.session_number} of ${r.total_sessions}` : "Session");
  const windowText = (r) =>
    `Book between ${mc.dateLabel(r.earliest_date)} and ${mc.dateLabel(r.latest_date)}`;
  const practitioner = (id) => data.practitioners[id] || "a practitioner";
  const room = (id) => data.rooms[id] || "";
  const place = (id) => data.locations.find((l) => l.id === id) || null;
  /** Where a practitioner works, when the clinic has more than one location (else ""). */
  const whereOf = (practitionerId) => {
    const found = data.locations.length > 1 && place((data.practitionerLocations || {})[practitionerId]);
    return found ? found.name : "";
  };
  const withWhom = (x) => `with ${practitioner(x.practitioner_id)}${room(x.room_id) ? `, ${room(x.room_id)}` : ""}`
    + (whereOf(x.practitioner_id) ? ` (${whereOf(x.practitioner_id)})` : "");
  const shortWhen = (iso) => `${mc.shortDayLabel(iso, zone)} ${mc.timeLabel(iso, zone)}`;
  const plural = (n, word) => `${n} ${word}${n === 1 ? "" : "s"}`;
  const sentence = (text) => text.charAt(0).toUpperCase() + text.slice(1);

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
    $("offer").hidden = true;
    $("course").hidden = true;
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

  /** The patient's sessions, and the offer their link was texted for (if it was): `note`
   *  says what just happened to the offer on this page (declined, a refused claim). */
  async function load(note) {
    const calls = [api("/requests"), api("/appointments")];
    if (data.offer) calls.push(api("/offer"));
    const [open, mine, offer] = await Promise.all(calls);
    if (!open.ok || !mine.ok) {
      if (open.status !== 401 && mine.status !== 401 && open.status !== 429) {
        showProblem("We could not load your sessions", (open.body || mine.body || {}).detail || "");
      }
      return;
    }
    $("loading").hidden = true;
    for (const r of open.body) requests[r.id] = r;
    const upcoming = mine.body.filter((a) => ["held", "booked", "confirmed"].includes(a.status));
    offerShown = null;
    if (offer && offer.ok) renderOffer(offer.body, open.body, upcoming, note || {});
    renderAppointments(upcoming);
    renderRequests(open.body.sort((a, b) => a.session_number - b.session_number), upcoming);
  }

  /* ---- The earlier-slot offer the link was texted for ---- */

  /** The offer's status, "expired" once past its claim time (before the clinic's sweep). */
  function offerStatus(offer) {
    return offer.status === "live" && Date.parse(offer.claim_by) <= now() ? "expired" : offer.status;
  }

  /** How an offer that is no longer live ended, as the patient reads it. */
  function offerEnding(offer, note) {
    const { refused } = note;
    const freed = when(offer.freed_from);
    const status = refused ? refused.status : offerStatus(offer);
    if (status === "claimed") {
      return { title: "You took this time", text: `${freed} is booked for you.` };
    }
    if (status === "declined") {
      return { title: "You passed on this time",
               text: note.declined
                 ? `Thank you for letting us know: we are offering ${freed} to the next patient.`
                 : `You passed on ${freed}. Thank you for letting us know.` };
    }
    if (status === "expired") {
      return { title: "This offer has expired",
               text: `Sorry: ${freed} was yours to take until ${mc.timeLabel(offer.claim_by, zone)}.` };
    }
    if (status === "taken" || (status === "withdrawn" && /taken/.test(offer.reason || ""))) {
      return { title: "Sorry, someone else took this time", text: `${freed} is no longer free.` };
    }
    const why = (refused && refused.detail) || offer.reason;
    return { title: "This offer is no longer available",
             text: `${freed} can no longer be offered to you${why ? ` (${why})` : ""}.` };
  }

  /** The offer first on the page: live, with "Take this time" and "No thanks"; else how it
   *  ended, kindly, and right below what else is free for its session (if still open). */
  function renderOffer(offer, open, upcoming, note) {
    const section = $("offer");
    const title = $("offer-title");
    const outcome = $("offer-outcome");
    const request = requests[offer.booking_request_id];
    const session = request ? sessionText(request) : `Session ${offer.session_number} of ${offer.total_sessions}`;
    const live = offerStatus(offer) === "live" && !note.refused;
    section.hidden = false;
    section.classList.toggle("offer-ended", !live);
    $("offer-slots").replaceChildren();
    if (live) {
      title.textContent = "A place freed up";
      const take = el("button", { type: "button", text: "Take this time", onclick: () => claimOffer(offer) });
      const pass = el("button", { type: "button", className: "secondary", text: "No thanks", onclick: () => declineOffer() });
      const what = offer.moving_from
        ? `Moves your ${session.toLowerCase()}, now on ${when(offer.moving_from)}, earlier.`
        : `${session}.`;
      $("offer-body").replaceChildren(
        el("p", { className: "offer-when", text: `${when(offer.freed_from)} with ${offer.practitioner_name}` }),
        el("p", { text: what }),
        el("p", { className: "offer-by" }, "Take it by ", el("strong", { text: claimBy(offer) }),
          ". After that, we offer it to the next patient."),
        el("div", { className: "actions" }, take, pass));
      outcome.textContent = "";
      return;
    }
    const ending = offerEnding(offer, note);
    title.textContent = ending.title;
    const body = [el("p", { text: ending.text })];
    const mine = (offer.status === "claimed" || (note.refused && note.refused.status === "claimed"))
      && upcoming.find((a) => a.booking_request_id === offer.booking_request_id);
    if (mine) {
      body.push(el("p", { className: "offer-when", text: `${when(mine.starts_at)} ${withWhom(mine)}` }),
        el("p", { className: "hint", text: `${session}. You will find it under \u201cYour booked sessions\u201d below.` }));
    }
    $("offer-body").replaceChildren(...body);
    const stillOpen = open.find((r) => r.id === offer.booking_request_id);
    if (stillOpen && !mine) {
      offerShown = stillOpen.id;
      const slots = $("offer-slots");
      slots.append(el("h3", { text: `Other free times for ${sessionText(stillOpen).toLowerCase()}` }),
        el("p", { text: windowText(stillOpen) }));
      const picker = el("div", { id: "offer-picker" });
      slots.append(picker);
      showSlots(stillOpen, picker, { mode: "book", day: mc.localDate(offer.freed_from, zone) });
      outcome.textContent = `${ending.title}. Other free times for ${sessionText(stillOpen).toLowerCase()} are below.`;
    } else if (offer.moving_from && !mine) {
      body.push(el("p", { text: `Your ${session.toLowerCase()} stays booked on ${when(offer.moving_from)}.` }));
      $("offer-body").replaceChildren(...body);
      outcome.textContent = `${ending.title}.`;
    } else {
      outcome.textContent = `${ending.title}.`;
    }
    if (note.refused || note.declined) mc.focus(title);
  }

  /** "10:30", or "Wednesday 17 June at 10:30" when not today where the patient is. */
  function claimBy(offer) {
    const today = mc.localDate(new Date(now()).toISOString(), zone);
    return mc.localDate(offer.claim_by, zone) === today ? mc.timeLabel(offer.claim_by, zone) : when(offer.claim_by);
  }

  async function claimOffer(offer) {
    const section = $("offer");
    disableAll(section, true);
    say(`Booking ${when(offer.freed_from)} for you...`);
    const result = await api("/offer/claim", { method: "POST" });
    say("");
    if (result.ok) {
      section.hidden = true;
      offerShown = null;
      const request = requests[offer.booking_request_id] || requests[result.body.booking_request_id];
      return showConfirmation(result.body, request, Boolean(offer.appointment_id));
    }
    if (result.status === 409 || result.status === 404 || result.status === 422) {
      const body = result.body || {};
      // An offer that ended says how (offer_status); else its time was taken meanwhile.
      await load({ refused: { status: body.offer_status || "taken", detail: body.detail || "" } });
      return;
    }
    disableAll(section, false);
    if (result.status !== 401 && result.status !== 429) {
      showProblem("The time could not be booked", (result.body || {}).detail || "Please try again.");
    }
  }

  async function declineOffer() {
    const section = $("offer");
    disableAll(section, true);
    const result = await api("/offer/decline", { method: "POST" });
    if (result.ok) return load({ declined: true });
    if (result.status === 409 || result.status === 404) {
      const body = result.body || {};
      return load({ refused: { status: body.offer_status || "withdrawn", detail: body.detail || "" } });
    }
    disableAll(section, false);
    if (result.status !== 401 && result.status !== 429) {
      showProblem("We could not pass it on", (result.body || {}).detail || "Please try again.");
    }
  }

  function renderRequests(all, upcoming) {
    const list = $("requests");
    if (!all.length) {
      const done = upcoming.length ? "All your sessions for now are booked." : "There is nothing to book with this link any more.";
      list.replaceChildren(el("li", { className: "card" }, el("p", { text: done }),
        el("p", {}, "To book another session, ", ...callUs(), ".")));
      return;
    }
    // The session the offer shows the free times of is booked up there, not twice.
    const open = all.filter((r) => r.id !== offerShown);
    if (!open.length) {
      list.replaceChildren(el("li", { className: "card" },
        el("p", { text: `Pick a time for ${sessionText(all[0]).toLowerCase()} above, under the offer.` })));
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
   *  how many times are free, every one counted), then the chosen day's times, all of them,
   *  by part of the day. `taken` is a time just lost to someone else (never offered again
   *  here); `day` the day to show first. */
  async function showSlots(request, container, { mode, appointment, taken, lead, day }) {
    // Only the latest call fills the container (a picker closed and opened again quickly).
    const turn = (showing.get(container) || 0) + 1;
    showing.set(container, turn);
    container.replaceChildren(el("p", { className: "hint", text: "Looking for free times..." }));
    const found = await api(`/requests/${request.id}/days`);
    if (showing.get(container) !== turn) return;
    if (!found.ok) {
      container.replaceChildren(el("p", { text: (found.body || {}).detail || "Free times could not be loaded." }));
      return;
    }
    const counts = new Map(found.body.filter((d) => d.free > 0).map((d) => [d.day, d.free]));
    const parts = lead ? [lead] : [];
    if (!counts.size) {
      parts.push(el("div", { className: "notice notice-warn", role: "status" },
        el("h4", { text: "No free times left in this window" }),
        el("p", { text: `Nothing is free between ${mc.dateLabel(request.earliest_date)} and ${mc.dateLabel(request.latest_date)}.` }),
        el("p", {}, "Please ", ...callUs(), " and we will find you a time.")));
      container.replaceChildren(...parts);
      return;
    }
    const same = (a, b) => Date.parse(a.starts_at) === Date.parse(b.starts_at) && a.practitioner_id === b.practitioner_id;
    const offered = (slot) => !(taken && same(slot, taken)) && !(appointment && same(slot, appointment));
    const choose = (slot) => (mode === "move" ? proposeMove(request, appointment, slot, container)
      : hold(request, slot, container));
    // The day asked for, else the lost time's, else the first with free times.
    const wanted = [day, taken && mc.localDate(taken.starts_at, zone)];
    const first = wanted.find((d) => d && counts.has(d)) || [...counts.keys()].sort()[0];
    const picker = dayPicker(request, container, {
      counts, first, choose, offered, title: mode === "move" ? "Pick the new day" : "Pick a day",
    });
    await picker.ready; // shown once the first day's times are there too
    if (showing.get(container) !== turn) return;
    container.replaceChildren(...parts, picker.node);
  }

  /** The days to offer: the window's (none before today), and any day a time falls on. */
  function windowDays(request, counts) {
    const today = mc.localDate(new Date(now()).toISOString(), zone);
    const days = new Set(counts.keys());
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

  /** A day's free times: for its button and for the status line. */
  function dayFacts(date, count) {
    const label = mc.dateLabel(date, true);
    if (count) return { note: plural(count, "free time"), said: `${label}: ${plural(count, "free time")}` };
    return { note: "No free time", said: `${label}: no free time` };
  }

  /** Days as toggle buttons (one tab stop, on the chosen day; Left/Right, Home/End move
   *  between the days with free times; Enter or Space chooses), a live status saying what
   *  the chosen day offers, then its times under Morning, Afternoon and Evening, each a
   *  group labelled by its heading. A day's times are fetched when it is chosen; `ready`
   *  settles once the first day's are. */
  function dayPicker(request, container, { counts, first, choose, offered, title }) {
    const base = container.id;
    const status = el("p", { className: "picker-status", role: "status", "aria-live": "polite" });
    const times = el("div", { className: "times", id: `${base}-times`, "aria-busy": "false" });
    const listed = new Map(); // day -> its free times, once fetched
    let chosenDay = null;
    const buttons = windowDays(request, counts).map((date) => {
      const count = counts.get(date) || 0;
      const fact = dayFacts(date, count);
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

    async function show(date) {
      const chosen = buttons.find((b) => b.dataset.day === date);
      chosenDay = date;
      for (const b of buttons) b.setAttribute("aria-pressed", String(b === chosen));
      rove(chosen);
      if (!listed.has(date)) {
        status.textContent = "";
        times.setAttribute("aria-busy", "true");
        times.replaceChildren(el("p", { className: "hint", text: "Looking for free times..." }));
        const found = await api(`/requests/${request.id}/slots?day=${date}`);
        if (chosenDay !== date) return; // another day was chosen meanwhile
        times.setAttribute("aria-busy", "false");
        if (!found.ok) {
          times.replaceChildren(el("p", { text: (found.body || {}).detail || "Free times could not be loaded." }));
          return;
        }
        listed.set(date, found.body.filter(offered));
      }
      const daySlots = listed.get(date);
      // The day's own count, as just listed (a time may have gone since the days were counted).
      const fact = dayFacts(date, daySlots.length);
      chosen.querySelector(".day-count").textContent = fact.note;
      times.replaceChildren(...dayTimes(daySlots, `${base}-${date}`, choose, request));
      // Focus stays on the day; the status says what it offers (read out once shown).
      status.textContent = fact.said;
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
      group, status, times,
    ];
    const ready = show(first);
    return { node: el("div", { className: "picker" }, parts), ready };
  }

  const PARTS_OF_DAY = [["morning", "Morning", 0], ["afternoon", "Afternoon", 12], ["evening", "Evening", 17]];

  /** The hour (0-23) an instant shows where the patient is. */
  function hourOf(iso) {
    return Number(mc.timeLabel(iso, zone).slice(0, 2)) % 24;
  }

  /** Practitioners in the order a day's times show them: the session's preferred one
   *  first, then by name. */
  function byPractitioner(slots, request) {
    const preferred = request.preferred_practitioner_id;
    const ids = [...new Set(slots.map((s) => s.practitioner_id))];
    return ids.sort((a, b) => (b === preferred) - (a === preferred) || practitioner(a).localeCompare(practitioner(b)));
  }

  /** A day's times under Morning, Afternoon and Evening (each a group named by its
   *  heading), and in each, every practitioner's times under their name. */
  function dayTimes(daySlots, base, choose, request) {
    const nodes = [];
    const sorted = [...daySlots].sort((a, b) => Date.parse(a.starts_at) - Date.parse(b.starts_at));
    PARTS_OF_DAY.forEach(([key, name, from], index) => {
      const until = index + 1 < PARTS_OF_DAY.length ? PARTS_OF_DAY[index + 1][2] : 24;
      const these = sorted.filter((s) => hourOf(s.starts_at) >= from && hourOf(s.starts_at) < until);
      if (!these.length) return;
      const headingId = `${base}-${key}`;
      nodes.push(el("div", { className: "part", role: "group", "aria-labelledby": headingId },
        el("h5", { id: headingId, text: name }),
        byPractitioner(these, request).map((who) => el("div", { className: "who-times" },
          el("p", { className: "who", text: whereOf(who) ? `${practitioner(who)} (${whereOf(who)})` : practitioner(who) }),
          el("div", { className: "slots" }, these.filter((s) => s.practitioner_id === who).map((slot) => el("button", {
            type: "button",
            "aria-label": `${when(slot.starts_at)} ${withWhom(slot)}`,
            text: mc.timeLabel(slot.starts_at, zone),
            onclick: () => choose(slot),
          })))))));
    });
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
    $("offer").hidden = true;
    $("problem").hidden = true;
    const facts = [
      ["Session", sessionText(request)],
      ["When", when(appointment.starts_at)],
      ["With", practitioner(appointment.practitioner_id)],
      ["Room", room(appointment.room_id)],
      ["Where", (place(appointment.location_id) || clinic || {}).name || ""],
    ].filter(([, value]) => value);
    $("confirmation-facts").replaceChildren(...facts.flatMap(([k, v]) => [el("dt", { text: k }), el("dd", { text: v })]));
    $("confirmation-title").textContent = moved ? "Your session has moved" : "You are booked";
    $("confirmation").hidden = false;
    mc.focus($("confirmation-title"));
    proposeCourse(appointment);
  }

  /* ---- The rest of the course in one step ---- */

  /** Once a session is booked: the course's other open sessions at its weekday and time
   *  with its practitioner (or the nearest free time, pointed out), to book all at once.
   *  `lead` goes first (why a new proposal is shown). */
  async function proposeCourse(appointment, lead) {
    courseFor = appointment.id;
    const found = await api(`/appointments/${appointment.id}/rest-of-course`);
    if (courseFor !== appointment.id || $("confirmation").hidden) return; // left meanwhile
    if (!found.ok || !found.body.sessions.length) {
      $("course").hidden = !lead;
      if (lead) $("course-body").replaceChildren(lead);
      return;
    }
    renderProposal(found.body, appointment, lead);
  }

  /** "Fri 3 Jul 10:00 is taken: 10:45 instead", or what else a session's exception is. */
  function exceptionText(proposed, anchor) {
    const slot = proposed.slot;
    const other = slot.practitioner_id !== anchor.practitioner_id ? ` with ${practitioner(slot.practitioner_id)}` : "";
    if (!proposed.wanted_starts_at) {
      return `No ${mc.weekdayLabel(anchor.starts_at, zone)} in this session's window: ${shortWhen(slot.starts_at)}${other} instead`;
    }
    const sameDay = mc.localDate(slot.starts_at, zone) === mc.localDate(proposed.wanted_starts_at, zone);
    const instead = sameDay ? mc.timeLabel(slot.starts_at, zone) : shortWhen(slot.starts_at);
    return `${shortWhen(proposed.wanted_starts_at)} is taken: ${instead}${other} instead`;
  }

  function renderProposal(proposal, anchor, lead) {
    const section = $("course");
    const sessions = [...proposal.sessions].sort((a, b) => a.session_number - b.session_number);
    const missing = sessions.filter((p) => !p.slot);
    const changed = sessions.filter((p) => p.slot && !p.as_wanted);
    const key = mc.newKey(); // one proposal, one booking: a retried click is the same one
    const items = sessions.map((p) => {
      const request = requests[p.booking_request_id];
      const name = request ? sessionText(request) : `Session ${p.session_number}`;
      if (!p.slot) {
        const window = request ? ` between ${mc.dateLabel(request.earliest_date)} and ${mc.dateLabel(request.latest_date)}` : "";
        return el("li", { className: "course-item course-none" },
          el("span", { className: "course-session", text: name }),
          el("span", { className: "course-when", text: `No free time${window}` }));
      }
      const item = el("li", { className: p.as_wanted ? "course-item" : "course-item course-exception" },
        el("span", { className: "course-session", text: name }),
        el("span", { className: "course-when", text: `${when(p.slot.starts_at)} ${withWhom(p.slot)}` }));
      if (!p.as_wanted) item.append(el("span", { className: "course-note", text: `Changed: ${exceptionText(p, anchor)}` }));
      return item;
    });
    const parts = lead ? [lead] : [];
    parts.push(el("p", { text: `Every ${mc.weekdayLabel(anchor.starts_at, zone)} at ${mc.timeLabel(anchor.starts_at, zone)} `
      + `with ${practitioner(anchor.practitioner_id)}, each session inside its own window. Nothing is booked until you confirm.` }));
    if (changed.length) {
      parts.push(el("p", { className: "hint", text: changed.length === 1
        ? "One session cannot be at that time: it is marked \u201cChanged\u201d with the nearest free time."
        : `${changed.length} sessions cannot be at that time: they are marked \u201cChanged\u201d with the nearest free time.` }));
    }
    parts.push(el("ol", { className: "course-list", "aria-label": "The rest of your course" }, items));
    if (missing.length || !proposal.complete) {
      const numbers = missing.map((p) => p.session_number).join(", ");
      parts.push(el("div", { className: "notice notice-warn" },
        el("p", { text: `${missing.length === 1 ? `Session ${numbers} has` : `Sessions ${numbers} have`} no free time in `
          + `${missing.length === 1 ? "its" : "their"} window, so the rest of your course cannot be booked in one step here.` }),
        el("p", {}, "To book it, please ", ...callUs(), ".")));
    } else {
      const bookAll = el("button", {
        type: "button", text: `Book these ${plural(sessions.length, "session")}`,
        onclick: () => bookCourse(proposal, anchor, key),
      });
      parts.push(el("div", { className: "actions" }, bookAll));
    }
    $("course-outcome").textContent = "";
    $("course-body").replaceChildren(...parts);
    section.hidden = false;
  }

  async function bookCourse(proposal, anchor, key) {
    const section = $("course");
    const sessions = proposal.sessions.map((p) => ({
      booking_request_id: p.booking_request_id, practitioner_id: p.slot.practitioner_id,
      room_id: p.slot.room_id, starts_at: p.slot.starts_at,
    }));
    disableAll(section, true);
    $("course-outcome").textContent = `Booking ${plural(sessions.length, "session")}...`;
    const result = await api(`/plans/${proposal.plan_id}/course`, {
      method: "POST", headers: { "Idempotency-Key": key }, body: { sessions },
    });
    if (result.ok) return renderCourseBooked(result.body);
    if (result.status === 409 || result.status === 422) {
      $("course-outcome").textContent = "";
      const lead = el("div", { className: "notice notice-warn", role: "alert" },
        el("h3", { text: "Nothing was booked" }),
        el("p", { text: `${sentence((result.body || {}).detail || "one of the times is no longer free")}.` }),
        el("p", { text: "Here is the rest of your course again, with the times free now." }));
      await proposeCourse(anchor, lead);
      mc.focus(lead);
      return;
    }
    disableAll(section, false);
    $("course-outcome").textContent = "";
    if (result.status !== 401 && result.status !== 429) {
      showProblem("The sessions could not be booked", (result.body || {}).detail || "Please try again.");
    }
  }

  function renderCourseBooked(appointments) {
    const sorted = [...appointments].sort((a, b) => Date.parse(a.starts_at) - Date.parse(b.starts_at));
    const heading = el("h3", { text: `Your ${plural(sorted.length, "session")} ${sorted.length === 1 ? "is" : "are"} booked` });
    $("course-body").replaceChildren(el("div", { className: "notice notice-ok" }, heading,
      el("ol", { className: "course-list", "aria-label": "Your sessions booked now" }, sorted.map((a) => {
        const request = requests[a.booking_request_id];
        return el("li", { className: "course-item" },
          el("span", { className: "course-session", text: request ? sessionText(request) : "Session" }),
          el("span", { className: "course-when", text: `${when(a.starts_at)} ${withWhom(a)}` }));
      })),
      el("p", { text: "We are texting you a confirmation of each." })));
    $("course-outcome").textContent = `All ${plural(sorted.length, "session")} of the rest of your course are booked.`;
    mc.focus(heading);
  }

  function calendarFile(appointment, request) {
    const text = mc.icsFile({
      uid: appointment.id, startsAt: appointment.starts_at, endsAt: appointment.ends_at,
      summary: `${clinic ? clinic.name : "Clinic"}: ${sessionText(request)}`,
      location: (place(appointment.location_id) || clinic || {}).name || "",
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
    $("course").hidden = true;
    courseFor = null;
    $("loading").hidden = false;
    await load();
    $("lists").hidden = false;
    mc.focus($("page-title"));
  });
  load();
})();
