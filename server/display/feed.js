// The live feed of a site's queue board (server-sent events), shared by the board and the ticket page.
// A page is "not live" when no message (board or heartbeat, sent every 2 s) came for STALE_AFTER_MS or the
// stream broke; the mark clears with the next message. A stream the browser gave up on is opened again.
"use strict";

const STALE_AFTER_MS = 6000;
const REOPEN_AFTER_MS = 2000;

function openQueueFeed(siteId, handlers) {
  const url = "/api/v1/sites/" + encodeURIComponent(siteId) + "/queue/stream";
  const staleMark = document.querySelector("[data-testid=stale-mark]");
  const staleSince = document.querySelector("[data-testid=stale-since]");
  const clock = document.querySelector("[data-testid=clock]");
  let lastMessageAt = 0;
  let lastLocalTime = "--:--:--";
  let source = null;

  function setStale(stale) {
    if (stale && staleMark.hidden) {
      staleSince.textContent = lastLocalTime;
    }
    staleMark.hidden = !stale;
    document.body.classList.toggle("not-live", stale);
  }

  function heard(localTime) {
    lastMessageAt = Date.now();
    if (localTime) {
      lastLocalTime = localTime;
      clock.textContent = localTime;
    }
    setStale(false);
  }

  function open() {
    source = new EventSource(url);
    source.addEventListener("board", (event) => {
      const board = JSON.parse(event.data);
      heard(board.local_time);
      handlers.onBoard(board);
    });
    source.addEventListener("heartbeat", (event) => {
      heard(JSON.parse(event.data).local_time);
    });
    source.addEventListener("error", () => {
      setStale(true);
      if (source.readyState === EventSource.CLOSED) {
        // The browser retries a broken connection itself, but not an error answer (a server starting up).
        setTimeout(open, REOPEN_AFTER_MS);
      }
    });
  }

  setInterval(() => {
    if (Date.now() - lastMessageAt > STALE_AFTER_MS) {
      setStale(true);
    }
  }, 500);
  open();
}

function element(tag, text, attributes) {
  const node = document.createElement(tag);
  if (text !== undefined && text !== null) {
    node.textContent = String(text);
  }
  for (const [name, value] of Object.entries(attributes || {})) {
    node.setAttribute(name, value);
  }
  return node;
}
