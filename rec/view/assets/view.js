// rec view: the page's front end. It reads the data embedded once in #rec-data and draws
// the exchange list (virtualized: only the rows in sight exist), one exchange's detail
// (its conversation, its stream on a timeline, headers and bodies), and, when the page
// was made with a replay report, its marks. Made by `rec diff --format html`, the list holds
// pairs of cassettes instead, and a pair's aligned exchanges open side by side. Plain DOM, no framework; the JSON
// trees are json-formatter-js (vendored, see rec/view/assets/vendor/README.md).
"use strict";
(function () {
  const DATA = JSON.parse(document.getElementById("rec-data").textContent);
  const EXCHANGES = DATA.exchanges;
  // A `rec diff` page lists pairs of cassettes; every other page, exchanges.
  const DIFF = DATA.diff;
  const ENTRIES = DIFF ? DIFF.pairs : EXCHANGES;
  const NOUN = DIFF ? "cassette pair" : "exchange";
  const SVG_NS = "http://www.w3.org/2000/svg";
  const DARK = window.matchMedia("(prefers-color-scheme: dark)").matches;

  // --- small helpers ----------------------------------------------------------------

  /** An element: h("div", {class: "x", onclick: f}, child, "text", ...). */
  function h(tag, props, ...children) {
    const el = document.createElement(tag);
    setProps(el, props);
    for (const child of children.flat()) {
      if (child === null || child === undefined || child === false) continue;
      el.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return el;
  }

  function svg(tag, props, ...children) {
    const el = document.createElementNS(SVG_NS, tag);
    setProps(el, props);
    for (const child of children) if (child) el.append(child);
    return el;
  }

  function setProps(el, props) {
    for (const [key, value] of Object.entries(props || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (key.startsWith("on")) el.addEventListener(key.slice(2), value);
      else if (key === "text") el.textContent = value;
      else el.setAttribute(key, value === true ? "" : value);
    }
  }

  function fmtMs(ms) {
    if (ms === null || ms === undefined) return "–";
    if (ms < 10 && ms % 1) return ms.toFixed(1) + " ms";
    if (ms < 1000) return Math.round(ms) + " ms";
    return (ms / 1000).toFixed(ms < 10000 ? 2 : 1) + " s";
  }

  function fmtBytes(n) {
    if (n < 1024) return n + " B";
    if (n < 1024 * 1024) return (n / 1024).toFixed(1) + " kB";
    return (n / 1024 / 1024).toFixed(1) + " MB";
  }

  const fmtCount = (n) => n.toLocaleString("en-US");

  /** A collapsible JSON tree for objects and arrays; text as it is. */
  function jsonTree(value, open) {
    if (value !== null && typeof value === "object") {
      const formatter = new JSONFormatter(value, open === undefined ? 2 : open,
        {animateOpen: false, animateClose: false, hoverPreviewEnabled: true, maxArrayItems: 200, theme: DARK ? "dark" : null});
      return h("div", {class: "json"}, formatter.render());
    }
    return h("pre", {class: "code"}, value === null || value === undefined ? "(none)" : String(value));
  }

  /** JSON text pretty-printed; anything else unchanged. */
  function pretty(text) {
    if (typeof text !== "string") return JSON.stringify(text, null, 2);
    try {
      return JSON.stringify(JSON.parse(text), null, 2);
    } catch (err) {
      return text;
    }
  }

  /** Text in a <pre>; over `lines` lines the rest folds away behind a summary. */
  function longText(text, lines, cls) {
    const all = String(text).split("\n");
    if (all.length <= lines + 3) return h("pre", {class: cls || "code"}, text);
    return h("div", {},
      h("pre", {class: cls || "code"}, all.slice(0, lines).join("\n")),
      h("details", {class: "more"}, h("summary", {}, `${fmtCount(all.length - lines)} more lines`),
        h("pre", {class: cls || "code"}, all.slice(lines).join("\n"))));
  }

  /** A header value with each [REDACTED] shown as a badge. */
  function redactedValue(value) {
    const parts = String(value).split("[REDACTED]");
    const out = [parts[0]];
    for (const rest of parts.slice(1)) out.push(h("span", {class: "redacted", title: "redacted when recorded"}, "redacted"), rest);
    return out;
  }

  const basename = (path) => String(path).split(/[\\/]/).pop();

  // --- a virtualized list: only the rows in sight (and a few beyond) are in the DOM ---

  class VirtualList {
    constructor(el, rowHeight, renderRow) {
      this.el = el;
      this.rowHeight = rowHeight;
      this.renderRow = renderRow;
      this.count = 0;
      this.range = [0, 0];
      this.spacer = h("div", {class: "vl-spacer"});
      el.append(this.spacer);
      el.addEventListener("scroll", () => this.schedule());
      new ResizeObserver(() => this.schedule()).observe(el);
    }

    setCount(count) {
      this.count = count;
      this.spacer.style.height = count * this.rowHeight + "px";
      this.render(true);
    }

    schedule() {
      if (this.pending) return;
      this.pending = true;
      requestAnimationFrame(() => {
        this.pending = false;
        this.render(false);
      });
    }

    render(force) {
      const overscan = 8;
      const top = this.el.scrollTop;
      const height = this.el.clientHeight || 600;
      const first = Math.max(0, Math.floor(top / this.rowHeight) - overscan);
      const last = Math.min(this.count, Math.ceil((top + height) / this.rowHeight) + overscan);
      if (!force && first === this.range[0] && last === this.range[1]) return;
      this.range = [first, last];
      const rows = [];
      for (let i = first; i < last; i++) {
        const row = this.renderRow(i);
        row.classList.add("vl-row");
        row.style.top = i * this.rowHeight + "px";
        row.style.height = this.rowHeight + "px";
        rows.push(row);
      }
      this.spacer.replaceChildren(...rows);
    }

    reveal(i) {
      const top = i * this.rowHeight;
      if (top < this.el.scrollTop) this.el.scrollTop = top;
      else if (top + this.rowHeight > this.el.scrollTop + this.el.clientHeight) {
        this.el.scrollTop = top + this.rowHeight - this.el.clientHeight;
      }
    }
  }

  // --- the exchange list --------------------------------------------------------------

  const KIND_NAMES = {sse: "SSE", http: "HTTP", ws: "WS"};
  const state = {visible: [], selected: null, filterWords: []};
  const SEARCH = DIFF ? DIFF.pairs.map((p) => [p.path, p.verdict, p.old || "", p.new || "",
    p.reasons.map((r) => r.message).join(" ")].join(" ").toLowerCase()) : EXCHANGES.map((e) => [e.n === null ? "" : "#" + e.n, e.kind, KIND_NAMES[e.kind] || "", e.route,
    e.status, e.model, e.prompt, e.outcome, e.problem || "", (e.marks || []).join(" ")].join(" ").toLowerCase());

  function statusClass(status) {
    const code = parseInt(status, 10);
    if (/cut|error|reset|timeout/.test(status) || code >= 500 || Number.isNaN(code)) return "bad";
    if (code >= 400) return "warn";
    return "ok";
  }

  function markBadges(marks) {
    return (marks || []).map((m) => h("span", {class: `mark mark-${m}`}, m));
  }

  function renderRow(i) {
    const pos = state.visible[i];
    if (DIFF) return pairRow(pos);
    const e = EXCHANGES[pos];
    const row = h("div", {class: "row" + (pos === state.selected ? " selected" : "") + (e.problem ? " has-problem" : ""),
      role: "option", "aria-selected": pos === state.selected ? "true" : "false", "data-pos": pos,
      onclick: () => select(pos)},
      h("div", {class: "line1"},
        h("span", {class: "num"}, e.n === null ? "–" : "#" + e.n),
        h("span", {class: `kind kind-${e.kind}`}, KIND_NAMES[e.kind] || e.kind),
        h("span", {class: "route", title: e.route}, e.route),
        h("span", {class: `status status-${statusClass(e.status)}`}, e.status),
        e.model ? h("span", {class: "model"}, e.model) : null,
        h("span", {class: "marks"}, markBadges(e.marks))),
      h("div", {class: "line2"},
        e.prompt ? h("span", {class: "prompt", title: e.prompt}, e.prompt) : null,
        e.prompt ? h("span", {class: "arrow"}, "→") : null,
        h("span", {class: "outcome" + (e.problem ? " problem" : ""), title: e.problem || e.outcome},
          e.problem ? "⚠ " + e.problem : e.outcome)));
    return row;
  }

  const listEl = document.getElementById("list");
  const list = new VirtualList(listEl, 52, renderRow);
  const filterEl = document.getElementById("filter");
  const countEl = document.getElementById("list-count");

  function applyFilter() {
    const words = filterEl.value.toLowerCase().split(/\s+/).filter(Boolean);
    state.visible = [];
    for (let pos = 0; pos < ENTRIES.length; pos++) {
      if (words.every((w) => SEARCH[pos].includes(w))) state.visible.push(pos);
    }
    countEl.textContent = words.length
      ? `${fmtCount(state.visible.length)} of ${fmtCount(ENTRIES.length)}`
      : `${fmtCount(ENTRIES.length)} ${NOUN}${ENTRIES.length === 1 ? "" : "s"}`;
    list.setCount(state.visible.length);
  }

  let filterTimer = null;
  filterEl.addEventListener("input", () => {
    clearTimeout(filterTimer);
    filterTimer = setTimeout(applyFilter, 60);
  });

  function moveSelection(step) {
    if (!state.visible.length) return;
    const at = state.visible.indexOf(state.selected);
    const next = at === -1 ? 0 : Math.min(state.visible.length - 1, Math.max(0, at + step));
    select(state.visible[next]);
    list.reveal(next);
  }

  document.addEventListener("keydown", (event) => {
    if (event.target === filterEl && event.key !== "ArrowDown") return;
    if (event.key === "ArrowDown" || event.key === "j") moveSelection(1);
    else if (event.key === "ArrowUp" || event.key === "k") moveSelection(-1);
    else if (event.key === "/") {
      filterEl.focus();
      event.preventDefault();
      return;
    } else return;
    event.preventDefault();
  });

  // --- choosing what the detail pane shows --------------------------------------------

  const detailEl = document.getElementById("detail");

  function select(pos) {
    if (DIFF) return selectPair(pos, null);
    if (location.hash !== "#x=" + pos) history.replaceState(null, "", "#x=" + pos);
    state.selected = pos;
    list.render(true);
    showExchange(EXCHANGES[pos]);
  }

  function showOverview() {
    history.replaceState(null, "", "#report");
    state.selected = null;
    list.render(true);
    detailEl.replaceChildren(reportOverview());
    detailEl.scrollTop = 0;
  }

  function route() {
    const hash = location.hash.slice(1);
    if (DIFF) {
      const [pair, row] = (hash.match(/^p=(\d+)(?:&r=(\d+))?$/) || []).slice(1).map((n) => n === undefined ? null : +n);
      if (pair !== undefined && pair !== null && DIFF.pairs[pair]) return selectPair(pair, row);
      if (state.visible.length) return selectPair(state.visible[0], null);
      detailEl.replaceChildren(h("div", {class: "empty"}, "No cassettes compared."));
      return;
    }
    if (hash.startsWith("x=") && EXCHANGES[+hash.slice(2)]) return select(+hash.slice(2));
    if (hash === "report" && DATA.report) return showOverview();
    if (DATA.report) return showOverview();
    if (state.visible.length) return select(state.visible[0]);
    detailEl.replaceChildren(h("div", {class: "empty"}, "No exchanges in these cassettes."));
  }

  // --- one exchange -------------------------------------------------------------------

  function showExchange(e) {
    const d = e.detail;
    const sections = [exchangeHeader(e)];
    if (e.notes && e.notes.length) sections.push(notesCard(e));
    if (d.record) {
      sections.push(card("Record", null, jsonTree(d.record, 2)));
    } else {
      sections.push(conversationCard(e));
      sections.push(timelineCard(e));
      sections.push(headersCard(e));
      sections.push(bodiesCard(e));
    }
    detailEl.replaceChildren(...sections);
    detailEl.scrollTop = 0;
  }

  function card(title, aside, ...content) {
    return h("section", {class: "card"}, h("h2", {}, h("span", {}, title), aside ? h("span", {class: "aside"}, aside) : null),
      ...content);
  }

  function fact(label, value, cls) {
    return h("span", {class: "fact" + (cls ? " " + cls : "")}, h("span", {class: "fact-label"}, label), value);
  }

  function exchangeHeader(e) {
    const d = e.detail;
    const source = DATA.sources[e.source];
    const ttfe = d.timeline && d.timeline.marks.find((m) => m.kind === "ttfe");
    return h("div", {class: "exchange-head"},
      h("div", {class: "title"},
        h("span", {class: "num big"}, e.n === null ? "–" : "#" + e.n),
        h("span", {class: `kind kind-${e.kind}`}, KIND_NAMES[e.kind] || e.kind),
        h("span", {class: "route big"}, e.route),
        h("span", {class: `status status-${statusClass(e.status)}`}, e.status),
        h("span", {class: "marks"}, markBadges(e.marks))),
      h("div", {class: "facts"},
        e.model ? fact("model", e.model) : null,
        e.events !== undefined ? fact(e.kind === "ws" ? "frames in" : "events", fmtCount(e.events)) : null,
        ttfe ? fact("first event", fmtMs(ttfe.t - (ttfe.from || 0))) : null,
        e.duration !== undefined ? fact("total", fmtMs(e.duration)) : null,
        e.size !== undefined ? fact("size", fmtBytes(e.size)) : null,
        source ? fact("cassette", basename(source.path), "muted") : null),
      e.problem ? h("div", {class: "problem-banner"}, "⚠ ", e.problem) : null);
  }

  // --- the stream on a timeline ---------------------------------------------------------

  const CATEGORY_RULES = [
    [/error|failed|incomplete|torn/, "error"],
    [/\.delta$/, "delta"],
    [/created|in_progress/, "lifecycle"],
    [/output_item|content_part/, "item"],
    [/completed|\.done$/, "end"],
    [/comment/, "comment"],
  ];

  function category(moment) {
    if (moment.lane === "client") return "client";
    const item = moment.data && moment.data.item;
    if (item && /_call$/.test(item.type || "")) return "tool";
    const rule = CATEGORY_RULES.find(([pattern]) => pattern.test(moment.label));
    return rule ? rule[1] : "other";
  }

  function timelineCard(e) {
    const tl = e.detail.timeline;
    const moments = tl.moments;
    const sameTime = moments.length > 1 && moments.every((m) => m.t === moments[0].t);
    const view = {mode: sameTime ? "order" : "time", selected: null};
    const plot = h("div", {class: "timeline-plot"});
    const raw = h("div", {class: "raw-panel"}, h("div", {class: "hint"}, "Click an event on the timeline or in the table to see it whole."));
    const table = h("div", {class: "event-table", role: "listbox", "aria-label": "Events"});
    const rows = new VirtualList(table, 24, (i) => eventRow(moments, i, view, choose));
    table.style.height = Math.min(moments.length * 24 + 2, 8 * 24 + 2) + "px";

    function choose(i) {
      view.selected = i;
      draw();
      rows.render(true);
      rows.reveal(i);
      raw.replaceChildren(rawMoment(e, moments[i], i));
    }

    function draw() {
      plot.replaceChildren(drawTimeline(tl, view, choose, plot.clientWidth || 800));
    }

    const toggle = h("span", {class: "toggle"},
      ...["time", "order"].map((mode) => h("button", {type: "button", class: mode === view.mode ? "on" : "",
        title: mode === "time" ? "place events at their recorded time" : "space events evenly, in order",
        onclick: (event) => {
          view.mode = mode;
          for (const b of event.target.parentNode.children) b.classList.toggle("on", b === event.target);
          draw();
        }}, mode === "time" ? "by time" : "in order")));
    const lanes = e.kind === "ws" ? "client frames above, server frames below" : "request above, answer below";
    const section = card("Stream", h("span", {}, `${fmtCount(moments.length)} on the wire · ${lanes} `, toggle),
      plot, legend(tl), table, raw);
    new ResizeObserver(() => draw()).observe(plot);
    requestAnimationFrame(() => {
      draw();
      rows.setCount(moments.length);
    });
    return section;
  }

  function legend(tl) {
    const items = tl.marks.map((m) => h("span", {class: `legend-item mark-line-${m.kind}`},
      h("span", {class: "swatch"}), m.label));
    return h("div", {class: "legend"}, items);
  }

  function niceStep(span) {
    const raw = span / 6;
    const power = Math.pow(10, Math.floor(Math.log10(raw || 1)));
    for (const factor of [1, 2, 5, 10]) if (raw <= factor * power) return factor * power;
    return 10 * power;
  }

  function drawTimeline(tl, view, choose, width) {
    const moments = tl.moments;
    const left = 68, right = 16, laneH = 26, top = 22;
    const lanes = {client: top, server: top + laneH + 6};
    const axisY = lanes.server + laneH + 8;
    const height = axisY + 22;
    const plotW = Math.max(100, width - left - right);
    const end = Math.max(tl.duration, moments.length ? moments[moments.length - 1].t : 0, 0.001);
    const byOrder = view.mode === "order";
    const slot = plotW / Math.max(moments.length, 1);
    const xOfIndex = (i) => left + (i + 0.5) * slot;
    const xAt = (t) => {
      if (!byOrder) return left + (t / end) * plotW;
      const i = moments.findIndex((m) => m.t >= t);
      return i === -1 ? left + plotW : xOfIndex(i) - slot / 2;
    };
    const root = svg("svg", {class: "timeline", width, height, viewBox: `0 0 ${width} ${height}`});
    const defs = svg("defs", {},
      svg("pattern", {id: "hatch", width: 6, height: 6, patternUnits: "userSpaceOnUse", patternTransform: "rotate(45)"},
        svg("rect", {width: 3, height: 6, class: "hatch-stripe"})));
    root.append(defs);
    for (const [name, y] of Object.entries(lanes)) {
      root.append(svg("rect", {x: left, y, width: plotW, height: laneH, class: "lane-bg"}));
      const label = svg("text", {x: left - 8, y: y + laneH / 2 + 4, class: "lane-label", "text-anchor": "end"});
      label.textContent = name === "client" ? "client →" : "← server";
      root.append(label);
    }
    for (const mark of tl.marks) {
      const x = xAt(mark.t);
      if (mark.kind === "gap") {
        const x0 = xAt(mark.from);
        root.append(svg("rect", {x: x0, y: lanes.client, width: Math.max(2, x - x0), height: axisY - lanes.client,
          class: "gap-band", fill: "url(#hatch)"}, titled(mark.label)));
      } else if (mark.kind === "ttfe") {
        const x0 = xAt(mark.from);
        root.append(svg("path", {d: `M${x0} 14 v-6 M${x0} 11 H${x} M${x} 14 v-6`, class: "ttfe-line"}, titled(mark.label)));
      } else {
        root.append(svg("line", {x1: x, x2: x, y1: 6, y2: axisY, class: `mark-line mark-line-${mark.kind}`}, titled(mark.label)));
      }
    }
    const tickW = byOrder ? Math.max(2, Math.min(10, slot - 1)) : 3;
    moments.forEach((m, i) => {
      const x = byOrder ? xOfIndex(i) : xAt(m.t);
      const rect = svg("rect", {x: x - tickW / 2, y: lanes[m.lane] + 3, width: tickW, height: laneH - 6, rx: 1,
        class: `tick cat-${category(m)}` + (view.selected === i ? " chosen" : ""), "data-index": i,
        onclick: () => choose(i)}, titled(`${m.label} · ${fmtMs(m.t)} · ${fmtBytes(m.size)}`));
      root.append(rect);
    });
    root.append(svg("line", {x1: left, x2: left + plotW, y1: axisY, y2: axisY, class: "axis"}));
    if (byOrder) {
      for (const i of [0, moments.length - 1]) {
        if (i < 0) continue;
        const label = svg("text", {x: xOfIndex(i), y: axisY + 15, class: "tick-label", "text-anchor": "middle"});
        label.textContent = `#${i} · ${fmtMs(moments[i].t)}`;
        root.append(label);
      }
    } else {
      const step = niceStep(end);
      for (let t = 0; t <= end + step / 1000; t += step) {
        const x = xAt(t);
        root.append(svg("line", {x1: x, x2: x, y1: axisY, y2: axisY + 4, class: "axis"}));
        const anchor = t === 0 ? "start" : x > left + plotW - 30 ? "end" : "middle";
        const label = svg("text", {x, y: axisY + 15, class: "tick-label", "text-anchor": anchor});
        label.textContent = fmtMs(t);
        root.append(label);
      }
    }
    return root;
  }

  function titled(text) {
    const title = svg("title", {});
    title.textContent = text;
    return title;
  }

  function eventRow(moments, i, view, choose) {
    const m = moments[i];
    const previous = i > 0 ? moments[i - 1].t : 0;
    return h("div", {class: "event-row" + (view.selected === i ? " selected" : ""), onclick: () => choose(i),
      role: "option"},
      h("span", {class: "ev-time"}, fmtMs(m.t)),
      h("span", {class: "ev-delta"}, i ? "+" + fmtMs(m.t - previous) : ""),
      h("span", {class: `ev-lane lane-${m.lane}`}, m.lane === "client" ? "→" : "←"),
      h("span", {class: `ev-dot cat-${category(m)}`}),
      h("span", {class: "ev-label"}, m.label, m.turn !== undefined ? h("span", {class: "ev-turn"}, ` turn ${m.turn}`) : null),
      h("span", {class: "ev-size"}, fmtBytes(m.size)));
  }

  function rawMoment(e, m, i) {
    let content = m.data;
    if (m.ref === "request") content = e.detail.request.body;
    if (m.ref === "response") content = e.detail.response.body;
    return h("div", {class: "raw"},
      h("div", {class: "raw-title"}, h("strong", {}, m.label),
        ` · #${i} · ${m.lane === "client" ? "sent by the client" : "sent by the server"} at ${fmtMs(m.t)} · ${fmtBytes(m.size)}`),
      jsonTree(content, 3));
  }

  // --- the conversation ---------------------------------------------------------------

  const INPUT_SHOWN = 4;

  function conversationCard(e) {
    const turns = e.detail.turns || [];
    const body = turns.map((turn, i) => turnView(turn, i, turns.length));
    return card("Conversation", turns.length > 1 ? `${turns.length} turns` : null,
      body.length ? body : h("div", {class: "hint"}, "No Responses request in this exchange."));
  }

  function turnView(turn, i, count) {
    const facts = turn.facts || {};
    const chips = [];
    if (count > 1) chips.push(h("span", {class: "turn-no"}, `turn ${i}`));
    if (facts.type) chips.push(h("span", {class: "chip"}, facts.type));
    if (facts.generate === false) chips.push(h("span", {class: "chip chip-warm"}, "prewarm (generate: false)"));
    if (facts.previous_response_id) chips.push(h("span", {class: "chip"}, "after " + facts.previous_response_id));
    if (facts.tools && facts.tools.length) {
      chips.push(h("span", {class: "chip chip-tools", title: facts.tools.join(", ")},
        `tools: ${facts.tools.slice(0, 6).join(", ")}${facts.tools.length > 6 ? ` +${facts.tools.length - 6}` : ""}`));
    }
    const input = turn.input || [];
    const earlier = input.length > INPUT_SHOWN + 2 ? input.slice(0, input.length - INPUT_SHOWN) : [];
    const recent = earlier.length ? input.slice(earlier.length) : input;
    const response = turn.response || {};
    return h("div", {class: "turn"},
      chips.length ? h("div", {class: "turn-facts"}, chips) : null,
      facts.instructions ? h("details", {class: "instructions"},
        h("summary", {}, `Instructions (${fmtCount(String(facts.instructions).length)} characters)`),
        longText(facts.instructions, 400, "prose")) : null,
      h("div", {class: "turn-input"},
        earlier.length ? h("details", {class: "earlier"},
          h("summary", {}, `${earlier.length} earlier input item${earlier.length === 1 ? "" : "s"}`),
          earlier.map((item) => itemView(item, true))) : null,
        recent.map((item) => itemView(item, true))),
      h("div", {class: "answer-rule"}, h("span", {}, "answer"),
        response.id ? h("span", {class: "muted"}, response.id) : null,
        response.status ? h("span", {class: `chip status-chip status-${response.status}`}, response.status) : null,
        usage(response.usage)),
      h("div", {class: "turn-output"}, (turn.output || []).map((out) => itemView(out.item, out.done))),
      !(turn.output || []).length && !response.error ? h("div", {class: "hint"}, turn.ended ? "No output items." : "No answer events.") : null,
      response.error ? h("div", {class: "error-box"}, h("strong", {}, "error "), JSON.stringify(response.error)) : null,
      !turn.ended && (turn.output || []).length ? h("div", {class: "problem-banner small"}, "The stream ended before its terminal event.") : null);
  }

  function usage(u) {
    if (!u || typeof u !== "object" || !u.total_tokens) return null;
    const parts = ["input_tokens", "output_tokens", "total_tokens"].filter((k) => typeof u[k] === "number")
      .map((k) => `${k.replace("_tokens", "")} ${fmtCount(u[k])}`);
    return parts.length ? h("span", {class: "muted usage"}, "tokens: " + parts.join(" · ")) : null;
  }

  function partText(part) {
    if (typeof part === "string") return part;
    if (!part || typeof part !== "object") return "";
    if (typeof part.text === "string") return part.text;
    if (typeof part.refusal === "string") return "refused: " + part.refusal;
    if (part.type === "input_image") return "[image]";
    if (part.type === "input_file") return `[file ${part.filename || part.file_id || ""}]`;
    return `[${part.type || "part"}]`;
  }

  function itemCard(kind, title, done, ...content) {
    return h("div", {class: `item item-${kind}` + (done ? "" : " partial")},
      h("div", {class: "item-head"}, title, done ? null : h("span", {class: "partial-badge", title: "the stream ended before this item was done"}, "partial")),
      ...content);
  }

  function callName(item) {
    return h("code", {class: "call-name"}, (item.namespace ? item.namespace + "." : "") + (item.name || item.type));
  }

  function callId(id) {
    return id ? h("span", {class: "call-id"}, id) : null;
  }

  /** One input or output item, drawn by its type; an unknown type is shown as its JSON. */
  function itemView(item, done) {
    const type = item.type || (item.role ? "message" : "?");
    if (type === "message") {
      const role = item.role || "assistant";
      const content = Array.isArray(item.content) ? item.content.map(partText).join("") : partText(item.content);
      return h("div", {class: `msg msg-${role}` + (done ? "" : " partial")},
        h("div", {class: "msg-role"}, role, done ? null : h("span", {class: "partial-badge"}, "partial")),
        longText(content, 40, "prose"));
    }
    if (type === "reasoning") {
      const summary = (item.summary || []).map(partText).join("\n\n");
      const rawText = (item.content || []).map(partText).join("\n");
      return itemCard("reasoning", h("span", {}, "reasoning"), done,
        summary ? h("div", {class: "prose reasoning-text"}, summary) : h("div", {class: "hint"}, "no summary"),
        rawText ? h("details", {}, h("summary", {}, "reasoning text"), h("pre", {class: "prose"}, rawText)) : null,
        item.encrypted_content ? h("div", {class: "muted small"}, `encrypted content, ${fmtCount(item.encrypted_content.length)} characters`) : null);
    }
    if (type === "function_call") {
      return itemCard("call", h("span", {}, "tool call ", callName(item), callId(item.call_id)), done,
        longText(pretty(item.arguments || ""), 30));
    }
    if (type === "custom_tool_call") {
      return itemCard("call", h("span", {}, "custom tool call ", callName(item), callId(item.call_id)), done,
        longText(item.input || "", 30));
    }
    if (type === "function_call_output" || type === "custom_tool_call_output") {
      const output = typeof item.output === "string" ? item.output
        : Array.isArray(item.output) ? item.output.map(partText).join("") : JSON.stringify(item.output, null, 2);
      return itemCard("output", h("span", {}, "tool output ", callId(item.call_id)), done, longText(output, 16));
    }
    if (type === "local_shell_call") {
      const command = item.action && item.action.command;
      return itemCard("call", h("span", {}, "local shell ", callId(item.call_id)), done,
        h("pre", {class: "code"}, Array.isArray(command) ? command.join(" ") : JSON.stringify(item.action)));
    }
    if (type === "web_search_call") {
      const action = item.action || {};
      return itemCard("search", h("span", {}, "web search ", item.status ? h("span", {class: "muted"}, item.status) : null), done,
        action.query ? h("div", {class: "prose"}, "“" + action.query + "”") : jsonTree(action, 1));
    }
    if (type === "compaction" || type === "compaction_summary") {
      return itemCard("compaction", h("span", {}, type), done,
        h("div", {class: "muted small"}, item.encrypted_content
          ? `the conversation so far, compacted: encrypted, ${fmtCount(item.encrypted_content.length)} characters`
          : "the conversation so far, compacted"));
    }
    if (type === "image_generation_call") {
      return itemCard("call", h("span", {}, "image generation"), done,
        item.revised_prompt ? h("div", {class: "prose"}, item.revised_prompt) : null,
        h("div", {class: "muted small"}, `result: ${fmtCount(String(item.result || "").length)} characters of base64`));
    }
    return itemCard("other", h("span", {}, type, callId(item.call_id)), done, jsonTree(item, 1));
  }

  // --- headers and bodies -------------------------------------------------------------

  function headerTable(title, part) {
    if (!part) return h("div", {class: "headers"}, h("h3", {}, title), h("div", {class: "hint"}, "none"));
    const line = part.method ? `${part.method} ${part.path}` : `${part.status} ${part.reason || ""}`;
    return h("div", {class: "headers"},
      h("h3", {}, title, h("span", {class: "muted"}, ` ${line} · ${fmtBytes(part.size)}` + (part.encoded ? " (encoded)" : ""))),
      h("table", {}, h("tbody", {}, part.headers.map(([name, value, redacted]) =>
        h("tr", {class: redacted ? "is-redacted" : ""}, h("th", {}, name), h("td", {}, redactedValue(value)))))),
      part.query && part.query.length ? h("table", {class: "query"}, h("tbody", {}, part.query.map(([name, value]) =>
        h("tr", {}, h("th", {}, "?" + name), h("td", {}, redactedValue(value)))))) : null);
  }

  function headersCard(e) {
    const d = e.detail;
    const end = d.end && d.end.state === "error" ? `${d.end.error || "error"} at ${fmtMs(d.end.at_ms)}` : null;
    const close = d.close ? `close ${d.close.code ?? "–"}${d.close.by ? " by " + d.close.by : ""} at ${fmtMs(d.close.at_ms)}` : null;
    return card("Headers", [end, close, d.extensions && d.extensions.length ? d.extensions.join(", ") : null].filter(Boolean).join(" · ") || null,
      h("div", {class: "header-grid"}, headerTable("Request", d.request), headerTable("Response", d.response)));
  }

  function bodiesCard(e) {
    const d = e.detail;
    const parts = [];
    if (d.request && d.request.body !== null && d.request.body !== undefined) {
      parts.push(h("h3", {}, "Request body"), jsonTree(d.request.body, 1));
    }
    if (d.response && d.response.body !== null && d.response.body !== undefined) {
      parts.push(h("h3", {}, "Response body"), jsonTree(d.response.body, 2));
    }
    return parts.length ? card("Bodies", null, parts) : null;
  }

  // --- a replay report ----------------------------------------------------------------

  function notesCard(e) {
    return card("Replay", null, e.notes.map(noteView));
  }

  function noteView(note) {
    return h("div", {class: `note note-${note.kind}`},
      h("div", {class: "note-head"}, h("span", {class: `mark mark-${markOf(note.kind)}`}, markOf(note.kind)),
        h("span", {}, note.message)),
      note.sides ? sideBySide(note.sides) : null,
      note.received !== undefined && note.received !== null && !note.sides
        ? h("details", {}, h("summary", {}, "what the client sent"), jsonTree(note.received, 2)) : null);
  }

  function markOf(kind) {
    return {drift: "drifted", violation: "violating", bad_request: "violating"}[kind] || kind;
  }

  /** A side-by-side diff: rows of [left number, left text, right number, right text, op], folds as {fold: N}. */
  function sideBySide(sides) {
    const rows = sides.rows.map((row) => {
      if (row.fold) return h("tr", {class: "fold"}, h("td", {colspan: 4}, `⋯ ${fmtCount(row.fold)} unchanged line${row.fold === 1 ? "" : "s"}`));
      const [ln, lt, rn, rt, op] = row;
      return h("tr", {class: `op-${op}`},
        h("td", {class: "ln"}, ln ?? ""), h("td", {class: "side left"}, lt ?? ""),
        h("td", {class: "ln"}, rn ?? ""), h("td", {class: "side right"}, rt ?? ""));
    });
    return h("div", {class: "sbs-wrap"}, h("table", {class: "sbs"},
      h("colgroup", {}, h("col", {class: "ln-col"}), h("col", {}), h("col", {class: "ln-col"}), h("col", {})),
      h("thead", {}, h("tr", {}, h("th", {colspan: 2}, sides.left), h("th", {colspan: 2}, sides.right))),
      h("tbody", {}, rows)));
  }

  function reportOverview() {
    const report = DATA.report;
    const outside = report.outside;
    const byExchange = EXCHANGES.map((e, pos) => [e, pos]).filter(([e]) => e.notes && e.notes.some((n) => n.kind !== "served"));
    return h("div", {class: "overview"},
      h("div", {class: "exchange-head"}, h("div", {class: "title"}, h("span", {class: "route big"}, "Replay report"),
        h("span", {class: `verdict ${report.clean ? "verdict-ok" : "verdict-bad"}`}, report.clean ? "clean" : "problems")),
        h("div", {class: "facts"}, Object.entries(report.summary).map(([k, v]) => fact(k, fmtCount(v), v && k !== "served" ? "warn" : null)),
          fact("report", basename(report.path), "muted"))),
      report.omitted ? h("div", {class: "problem-banner small"}, "Events past the report's limit were counted, not kept: " +
        Object.entries(report.omitted).map(([k, v]) => `${v} ${k}`).join(", ") +
        (report.omitted.unused && report.unused_listed ? "; every exchange never requested is still marked unused in the list" : "")) : null,
      card("Requests that matched no exchange", outside.length ? `${outside.length}` : null,
        outside.length ? outside.map((event) => noteView({kind: event.kind, message: `${event.route}: ${event.message}`,
          received: event.received})) : h("div", {class: "hint"}, "None: every request found its recorded exchange.")),
      card("Exchanges the report names", byExchange.length ? `${byExchange.length}` : null,
        byExchange.length ? byExchange.map(([e, pos]) => h("div", {class: "overview-row", onclick: () => {
          select(pos);
          list.reveal(Math.max(0, state.visible.indexOf(pos)));
        }}, h("span", {class: "num"}, "#" + e.n), h("span", {class: "route"}, e.route), h("span", {class: "marks"}, markBadges(e.marks)),
        h("span", {class: "muted"}, e.notes.filter((n) => n.kind !== "served").map((n) => n.message).join("; "))))
          : h("div", {class: "hint"}, "None: every exchange was served as recorded.")));
  }

  // --- a `rec diff` page: pairs of cassettes, and an aligned exchange's two sides -------------

  const signed = (n) => (n > 0 ? "+" : n < 0 ? "−" : "±") + fmtCount(Math.abs(n));

  function verdictBadge(verdict) {
    return h("span", {class: `verdict-badge verdict-${verdict}`}, verdict.replace("_", " "));
  }

  function tokenDelta(usage) {
    const delta = usage && usage.delta;
    if (!delta) return null;
    return h("span", {class: "token-delta" + (delta.total_tokens > 0 ? " up" : delta.total_tokens < 0 ? " down" : ""),
      title: `tokens ${fmtCount(usage.old.total_tokens)} → ${fmtCount(usage.new.total_tokens)}`}, `Δ tokens ${signed(delta.total_tokens)}`);
  }

  function pairRow(pos) {
    const p = DIFF.pairs[pos];
    const first = p.reasons.length ? p.reasons[0].message + (p.reasons.length > 1 ? ` (+${p.reasons.length - 1} more)` : "") : "no difference";
    return h("div", {class: "row pair-row" + (pos === state.selected ? " selected" : ""), role: "option",
      "aria-selected": pos === state.selected ? "true" : "false", "data-pos": pos, onclick: () => selectPair(pos, null)},
      h("div", {class: "line1"}, verdictBadge(p.verdict), h("span", {class: "route", title: p.path}, p.path), tokenDelta(p.usage)),
      h("div", {class: "line2"}, h("span", {class: "outcome" + (p.level === "regression" ? " problem" : ""), title: first}, first)));
  }

  function selectPair(pos, rowIndex) {
    const p = DIFF.pairs[pos];
    const rows = p.rows;
    const chosen = rowIndex !== null && rows[rowIndex] ? rowIndex
      : Math.max(0, rows.findIndex((r) => r.verdict !== "identical"));
    const hash = `#p=${pos}&r=${chosen}`;
    if (location.hash !== hash) history.replaceState(null, "", hash);
    state.selected = pos;
    list.render(true);
    detailEl.replaceChildren(pairHead(p), pairRowsCard(p, pos, chosen), rows[chosen] ? sidesCard(p, rows[chosen]) : null);
    detailEl.scrollTop = 0;
  }

  function figureFacts(usage) {
    if (!usage || !usage.old || !usage.new) return [];
    const facts = ["input", "cached", "output", "reasoning", "total"].map((kind) => {
      const key = kind + "_tokens";
      return fact(kind, `${fmtCount(usage.old[key])} → ${fmtCount(usage.new[key])} (${signed(usage.delta[key])})`,
        usage.delta[key] > 0 && kind === "total" ? "warn" : null);
    });
    if (usage.old.cost !== null && usage.new.cost !== null && (usage.old.cost || usage.new.cost)) {
      facts.push(fact("cost", `$${usage.old.cost.toFixed(4)} → $${usage.new.cost.toFixed(4)}`));
    }
    return facts;
  }

  function pairHead(p) {
    return h("div", {class: "exchange-head pair-head"},
      h("div", {class: "title"}, verdictBadge(p.verdict), h("span", {class: "route big"}, p.path)),
      h("div", {class: "facts"}, fact("old", p.old || "(none)", "muted"), fact("new", p.new || "(none)", "muted")),
      h("div", {class: "facts token-facts"}, figureFacts(p.usage)),
      p.reasons.length ? h("ul", {class: "reasons"}, p.reasons.map((r) =>
        h("li", {class: `reason level-${r.level}`}, h("code", {class: "rule"}, r.rule), " ", r.message))) : null);
  }

  function pairRowsCard(p, pos, chosen) {
    const side = (n) => n === null ? "–" : "#" + n;
    return card("Exchanges", `${p.rows.length}`, h("div", {class: "pair-rows"}, p.rows.map((r, i) =>
      h("div", {class: "pair-exchange" + (i === chosen ? " selected" : ""), onclick: () => selectPair(pos, i)},
        h("span", {class: "num"}, `${side(r.old)} → ${side(r.new)}`), verdictBadge(r.verdict),
        h("span", {class: "route"}, r.route || ""), tokenDelta(r.usage),
        h("span", {class: "muted reasons-line"}, r.reasons.join("; "))))));
  }

  /** One side of an aligned exchange: its head (status highlighted when it changed) and its conversation. */
  function sideView(label, e, highlight, which) {
    if (!e) return h("div", {class: "side-col empty-side"}, h("h3", {}, label), h("div", {class: "hint"}, `Not in ${label}.`));
    const conversation = conversationCard(e);
    if (highlight) {
      const turns = conversation.querySelectorAll(".turn");
      for (const [t, k] of highlight.calls[which]) {
        const item = turns[t] && turns[t].querySelector(".turn-output").children[k];
        if (item) item.classList.add("diff-changed");
      }
      for (const t of highlight.turns) {
        const chip = turns[t] && turns[t].querySelector(".status-chip");
        if (chip) chip.classList.add("diff-changed");
      }
    }
    const source = DATA.sources[e.source];
    return h("div", {class: "side-col"},
      h("div", {class: "side-head"}, h("h3", {}, label), h("span", {class: "num"}, "#" + e.n),
        h("span", {class: "route"}, e.route),
        h("span", {class: `status status-${statusClass(e.status)}` + (highlight && highlight.status ? " diff-changed" : "")}, e.status),
        source ? h("span", {class: "muted"}, basename(source.path)) : null),
      e.problem ? h("div", {class: "problem-banner small"}, "⚠ ", e.problem) : null,
      conversation);
  }

  function sidesCard(p, row) {
    const old = row.old_x === null ? null : EXCHANGES[row.old_x];
    const now = row.new_x === null ? null : EXCHANGES[row.new_x];
    return card("Side by side", row.reasons.length ? row.reasons.join("; ") : null,
      h("div", {class: "sides"}, sideView("OLD", old, row.highlight, "old"), sideView("NEW", now, row.highlight, "new")));
  }

  function diffSummary() {
    return h("span", {class: "diff-summary"},
      h("span", {class: `verdict ${DIFF.failed ? "verdict-bad" : "verdict-ok"}`}, DIFF.failed ? `fails on ${DIFF.fail_on}` : "passes"),
      ...Object.entries(DIFF.summary).filter(([, v]) => v).map(([k, v]) => h("span", {class: "muted"}, ` ${k.replace("_", " ")} ${fmtCount(v)}`)),
      DIFF.usage.delta ? h("span", {class: "muted"}, ` · tokens ${fmtCount(DIFF.usage.old.total_tokens)} → ${fmtCount(DIFF.usage.new.total_tokens)} (${signed(DIFF.usage.delta.total_tokens)})`) : null);
  }

  // --- the top bar ----------------------------------------------------------------------

  function topBar() {
    if (DIFF) {
      document.getElementById("sources").replaceChildren(h("span", {class: "source"}, DIFF.old, h("span", {class: "muted"}, " → "), DIFF.new));
      document.getElementById("report-summary").replaceChildren(diffSummary());
      filterEl.placeholder = "Filter: words match path, verdict, reasons";
      return;
    }
    const sources = document.getElementById("sources");
    sources.replaceChildren(...DATA.sources.map((s) => {
      const count = EXCHANGES.filter((e) => e.source === DATA.sources.indexOf(s)).length;
      return h("span", {class: "source", title: `${s.path}\nwritten by rec ${s.rec_version} at ${s.created_at}\nupstream ${s.upstream || "none (synthesized)"}`},
        basename(s.path), h("span", {class: "muted"}, ` ${fmtCount(count)}`),
        s.warnings.length ? h("span", {class: "warn-icon", title: s.warnings.join("\n")}, " ⚠ cut") : null);
    }));
    const summary = document.getElementById("report-summary");
    if (DATA.report) {
      summary.append(h("button", {type: "button", class: "report-button", onclick: () => showOverview()},
        h("span", {class: `verdict ${DATA.report.clean ? "verdict-ok" : "verdict-bad"}`}, DATA.report.clean ? "replay clean" : "replay problems"),
        ...Object.entries(DATA.report.summary).filter(([, v]) => v).map(([k, v]) => h("span", {class: "muted"}, ` ${k} ${fmtCount(v)}`))));
    }
  }

  topBar();
  applyFilter();
  route();
  window.addEventListener("hashchange", route);
  document.body.dataset.ready = "true";
})();
