// The hall's big screen: now serving by window, the last calls (newest highlighted), waiting and estimate per
// service, crowding of the waiting areas, and whether the site reports.
"use strict";

function renderWindows(windows) {
  const body = document.querySelector("[data-testid=windows]");
  body.replaceChildren(...windows.map((window) => {
    const row = element("tr", null, { "data-testid": "window-" + window.id });
    row.classList.toggle("closed", !window.open);
    row.append(
      element("td", window.name),
      element("td", window.open ? (window.serving || "–") : "closed · 暂停", {
        class: "serving", "data-testid": "serving-" + window.id,
      }),
      element("td", window.service_name || ""),
    );
    return row;
  }));
}

function renderCalls(calls) {
  const list = document.querySelector("[data-testid=calls]");
  list.replaceChildren(...calls.map((call) => {
    const item = element("li", call.number + " → " + call.window_name + "  " + call.local_time, {
      "data-testid": call.newest ? "latest-call" : "call",
      "data-number": call.number,
    });
    item.classList.toggle("newest", call.newest);
    return item;
  }));
}

function renderServices(services) {
  const body = document.querySelector("[data-testid=services]");
  body.replaceChildren(...services.map((service) => {
    const row = element("tr", null, { "data-testid": "service-" + service.id });
    row.append(
      element("td", service.prefix + " · " + service.name),
      element("td", service.waiting, { "data-testid": "waiting-" + service.id }),
      element("td", service.estimate, { "data-testid": "estimate-" + service.id }),
    );
    return row;
  }));
}

function renderCrowding(areas) {
  const banner = document.querySelector("[data-testid=crowding-banner]");
  const crowded = areas.filter((area) => area.level === "near" || area.level === "full");
  banner.hidden = crowded.length === 0;
  banner.classList.toggle("full", crowded.some((area) => area.level === "full"));
  banner.textContent = crowded.map((area) => area.space_name + ": " + area.text).join(" · ");
}

function renderBoard(board) {
  document.querySelector("[data-testid=site-offline]").hidden = board.status.reporting;
  renderWindows(board.windows);
  renderCalls(board.recent_calls);
  renderServices(board.services);
  renderCrowding(board.crowding);
  const state = document.querySelector("[data-testid=board-state]");
  state.textContent = board.board_seq === null
    ? "no queue data from the site yet"
    : "board #" + board.board_seq + " · " + board.status.text;
  state.dataset.seq = board.board_seq === null ? "" : String(board.board_seq);
}

openQueueFeed(document.body.dataset.site, { onBoard: renderBoard });
