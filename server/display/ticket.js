// "My ticket" on a resident's phone: follows the site's board feed and, at each change, reads this ticket again.
"use strict";

const ticketUrl = "/api/v1/sites/" + encodeURIComponent(document.body.dataset.site) + "/tickets/"
  + encodeURIComponent(document.body.dataset.day) + "/" + encodeURIComponent(document.body.dataset.number);

const STATUS_TEXT = {
  waiting: "Waiting · 等候中",
  called: "Called · 已叫号",
  done: "Served · 已办结",
  no_show: "Missed · 过号",
  cancelled: "Cancelled · 已取消",
  expired: "Expired · 已过期",
};

function show(testId, text) {
  document.querySelector("[data-testid=" + testId + "]").textContent = text;
}

function renderTicket(ticket) {
  document.body.dataset.status = ticket.status;
  show("ticket-service", ticket.service_name);
  show("ticket-status", STATUS_TEXT[ticket.status] || ticket.status);
  show("ticket-position", ticket.position === null ? "–" : String(ticket.position));
  show("ticket-estimate", ticket.estimate === null ? "–" : ticket.estimate);
  show("ticket-message", ticket.message);
  const called = document.querySelector("[data-testid=called-banner]");
  called.hidden = ticket.status !== "called";
  if (ticket.status === "called") {
    called.textContent = ticket.message + " · 请到 " + (ticket.window_name || "窗口") + " 办理";
  }
  document.querySelector("[data-testid=site-offline]").hidden = ticket.site_status.reporting;
}

let reading = false;
let again = false;

async function readTicket() {
  if (reading) {
    again = true;  // a board came while reading: read once more afterwards
    return;
  }
  reading = true;
  try {
    const response = await fetch(ticketUrl, { cache: "no-store" });
    if (response.status === 404) {
      show("ticket-status", "Unknown ticket · 未找到该号码");
    } else if (response.ok) {
      renderTicket(await response.json());
    }
  } catch (error) {
    // the feed's stale mark says the server is away
  } finally {
    reading = false;
    if (again) {
      again = false;
      readTicket();
    }
  }
}

openQueueFeed(document.body.dataset.site, { onBoard: readTicket });
