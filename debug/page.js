"use strict";
(function () {
  const LANES = ["Capacity", "InUse", "Waiting"];
  const tbody = document.querySelector("#primitives tbody");
  const status = document.getElementById("status");
  const empty = document.getElementById("empty");
  const rows = new Map(); // name -> {tr, cells, evSig}

  function el(tag, attrs, text) {
    const e = document.createElement(tag);
    for (const k in attrs || {}) e.setAttribute(k, attrs[k]);
    if (text !== undefined) e.textContent = text;
    return e;
  }

  function fmtNum(f) {
    if (f.Seconds) return fmtSec(f.Value);
    return String(f.Value);
  }

  // fmtSec writes seconds with three significant digits: 4ms, 1.5s, 250µs.
  function fmtSec(s) {
    const p = x => String(Number(x.toPrecision(3)));
    if (s === 0) return "0";
    if (s < 1e-3) return p(s * 1e6) + "µs";
    if (s < 1) return p(s * 1e3) + "ms";
    if (s < 60) return p(s) + "s";
    return Math.floor(s / 60) + "m" + Math.round(s % 60) + "s";
  }

  // A lane field is the name with a one-word prefix: ReadInUse, OffloadCapacity.
  function laneOf(field, name) {
    if (field === name) return "";
    if (field.endsWith(name)) {
      const p = field.slice(0, field.length - name.length);
      if (/^[A-Z][a-z]+$/.test(p)) return p;
    }
    return null;
  }

  // setText updates a cell and flashes it when its text changed; value,
  // when given, is kept in data-value for scripts and tests.
  function setText(cell, text, value) {
    if (value !== undefined) cell.setAttribute("data-value", String(value));
    if (cell.textContent === text) return;
    const first = !cell.hasAttribute("data-seen");
    cell.textContent = text;
    cell.setAttribute("data-seen", "");
    if (!first) {
      cell.classList.remove("chg");
      void cell.offsetWidth; // restart the animation
      cell.classList.add("chg");
    }
  }

  function quantile(h, q) {
    if (!h || !h.Count) return null;
    const want = q * h.Count;
    let seen = 0;
    for (let i = 0; i < h.Counts.length; i++) {
      seen += h.Counts[i];
      if (seen >= want) return i < h.Bounds.length ? "≤" + fmtSec(h.Bounds[i]) : ">" + fmtSec(h.Bounds[h.Bounds.length - 1]);
    }
    return null;
  }

  function newRow(en) {
    const tr = el("tr", { "data-name": en.Name, "data-kind": en.Kind });
    const cells = {};
    const add = (field, cls) => {
      const td = el("td", { "data-field": field });
      if (cls) td.className = cls;
      tr.appendChild(td);
      cells[field] = td;
    };
    add("Kind"); add("Name");
    for (const l of LANES) add(l, "num");
    add("OldestWait", "num"); add("Closed"); add("Waits"); add("Figures"); add("Events");
    cells.Kind.textContent = en.Kind;
    cells.Name.textContent = en.Name;
    return { tr, cells, evSig: null, figs: new Map() };
  }

  function update(row, en) {
    const used = new Set(["Closed"]);
    let waiting = 0;
    for (const name of LANES) {
      const parts = [];
      let exact = null, sum = 0;
      for (const f of en.Figures || []) {
        const lane = laneOf(f.Field, name);
        if (lane === null) continue;
        used.add(f.Field);
        if (lane) sum += f.Value; else exact = f.Value;
        parts.push(lane ? lane + " " + fmtNum(f) : fmtNum(f));
      }
      // data-value: the field itself, or the sum of its lanes when it has none.
      const total = exact !== null ? exact : sum;
      if (name === "Waiting") waiting = total;
      setText(row.cells[name], parts.length ? parts.join(" · ") : "—", parts.length ? total : "");
    }
    for (const f of en.Figures || []) if (f.Field === "OldestWait") used.add(f.Field);
    setText(row.cells.OldestWait, fmtSec(en.OldestWait / 1e9), en.OldestWait / 1e9);
    setText(row.cells.Closed, en.Closed ? "closed" : "no", en.Closed ? 1 : 0);
    row.tr.classList.toggle("closed", !!en.Closed);
    row.tr.classList.toggle("waiting", waiting > 0);

    const h = en.Waits;
    setText(row.cells.Waits, h ? (h.Count ? h.Count + (h.Count === 1 ? " wait" : " waits") + ", p50 " + quantile(h, 0.5) + ", p99 " + quantile(h, 0.99) : "0 waits") : "—", h ? h.Count : "");
    if (h) row.cells.Waits.title = "waits per bucket (seconds, upper bound): " + h.Bounds.map((b, i) => "≤" + b + ": " + h.Counts[i]).join(", ") + ", above: " + h.Counts[h.Counts.length - 1];

    // Other figures: one span each, kept across refreshes so a change flashes.
    const figCell = row.cells.Figures;
    const keep = new Set();
    for (const f of en.Figures || []) {
      if (used.has(f.Field)) continue;
      keep.add(f.Field);
      let span = row.figs.get(f.Field);
      if (!span) {
        span = el("span", { class: "fig" + (f.Counter ? " counter" : ""), "data-field": f.Field, title: f.Counter ? "running total" : "now" });
        span.appendChild(document.createTextNode(f.Field + " "));
        span.appendChild(el("b"));
        figCell.appendChild(span);
        row.figs.set(f.Field, span);
      }
      setText(span.lastChild, fmtNum(f), f.Value);
    }
    for (const [k, span] of row.figs) if (!keep.has(k)) { span.remove(); row.figs.delete(k); }
    let none = figCell.querySelector("span.none");
    if (row.figs.size === 0 && !none) figCell.appendChild(el("span", { class: "none mute" }, "—"));
    if (row.figs.size > 0 && none) none.remove();

    // Events: rebuilt only when they changed, so open <details> stay open.
    const evs = en.Events || [];
    const last = evs.length ? evs[evs.length - 1] : null;
    const sig = evs.length + "|" + (last ? last.At + last.Message : "");
    if (sig !== row.evSig) {
      row.evSig = sig;
      const cell = row.cells.Events;
      const wasOpen = cell.querySelector("details.events-all") && cell.querySelector("details.events-all").open;
      const openStacks = new Set(Array.from(cell.querySelectorAll("details.stack[open]")).map(d => d.getAttribute("data-key")));
      cell.replaceChildren();
      if (!evs.length) {
        cell.appendChild(el("span", { class: "mute" }, "—"));
      } else {
        cell.setAttribute("data-count", String(evs.length));
        const all = el("details", { class: "events-all" });
        all.open = !!wasOpen;
        all.appendChild(el("summary", {}, evs.length + (evs.length === 1 ? " event" : " events") + ", last: " + last.Kind + " " + last.Message));
        const ol = el("ol", { class: "events" });
        for (let i = evs.length - 1; i >= 0; i--) {
          const ev = evs[i];
          const li = el("li", { "data-kind": ev.Kind });
          li.appendChild(el("span", { class: "ev-at" }, new Date(ev.At).toLocaleTimeString() + " "));
          li.appendChild(el("span", { class: "ev-kind" }, ev.Kind));
          li.appendChild(document.createTextNode(" " + ev.Message));
          if (ev.Stack) {
            const key = ev.At + "|" + i;
            const d = el("details", { class: "stack", "data-key": key });
            d.open = openStacks.has(key);
            d.appendChild(el("summary", {}, "stack"));
            d.appendChild(el("pre", {}, ev.Stack));
            li.appendChild(d);
          }
          ol.appendChild(li);
        }
        all.appendChild(ol);
        cell.appendChild(all);
      }
    }
  }

  function render(entries) {
    const seen = new Set();
    for (const en of entries) {
      seen.add(en.Name);
      let row = rows.get(en.Name);
      if (!row || row.tr.getAttribute("data-kind") !== en.Kind) {
        if (row) row.tr.remove();
        row = newRow(en);
        rows.set(en.Name, row);
      }
      update(row, en);
      tbody.appendChild(row.tr); // moves it into sorted order; an existing row keeps its state
    }
    for (const [name, row] of rows) if (!seen.has(name)) { row.tr.remove(); rows.delete(name); }
    empty.hidden = entries.length > 0;
  }

  function setStatus(state, text) {
    status.setAttribute("data-state", state);
    status.textContent = text;
  }

  let refreshes = 0;
  async function refresh() {
    try {
      const resp = await fetch("?format=json", { cache: "no-store", headers: { Accept: "application/json" } });
      if (!resp.ok) throw new Error("HTTP " + resp.status);
      const entries = await resp.json();
      render(entries || []);
      refreshes++;
      document.body.setAttribute("data-refreshes", String(refreshes));
      setStatus("ok", entries.length + (entries.length === 1 ? " primitive" : " primitives") + ", updated " + new Date().toLocaleTimeString());
    } catch (err) {
      setStatus("error", "refresh failed: " + err.message + " (retrying)");
    }
    setTimeout(refresh, 1000);
  }

  try {
    render(JSON.parse(document.getElementById("initial").textContent) || []);
    setStatus("ok", "loaded " + new Date().toLocaleTimeString());
  } catch (err) {
    setStatus("error", "bad initial data: " + err.message);
  }
  setTimeout(refresh, 1000);
})();
