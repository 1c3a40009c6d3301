// Hookpost's only script: opens delivery details on demand, switches their tabs,
// adds new attempts to their delivery as the server sends them, redraws the chart, and
// keeps relative times current. The pages work without it, except
// for live updates and details.
"use strict";

// A notice of what was just done (`?done=`) is said once: reloading the page says nothing.
if (new URLSearchParams(location.search).has("done")) {
  const url = new URL(location.href);
  url.searchParams.delete("done");
  history.replaceState(null, "", url);
}

function loadDetail(details) {
  if (details.dataset.loaded) return;
  details.dataset.loaded = "1";
  const target = details.querySelector(".detail");
  fetch(details.dataset.src, { credentials: "same-origin" })
    .then((response) => response.ok ? response.text() : Promise.reject(response.status))
    .then((html) => { target.innerHTML = html; })
    .catch((status) => {
      delete details.dataset.loaded;
      if (status === 401) {
        // The session expired: say so, and offer a sign-in that comes back here.
        const here = location.pathname + location.search;
        const link = document.createElement("a");
        link.href = "/ui/login?expired=1&next=" + encodeURIComponent(here);
        link.textContent = "Sign in again";
        const message = document.createElement("p");
        message.className = "error";
        message.append("Your session has expired. ", link, ".");
        target.replaceChildren(message);
      } else {
        target.textContent = "Could not load this delivery.";
      }
    });
}

function selectTab(tab) {
  const list = tab.closest("[role=tablist]");
  for (const other of list.querySelectorAll("[role=tab]")) {
    const selected = other === tab;
    other.setAttribute("aria-selected", String(selected));
    other.tabIndex = selected ? 0 : -1;
    document.getElementById(other.getAttribute("aria-controls")).hidden = !selected;
  }
  tab.focus();
}

document.addEventListener("toggle", (event) => {
  const details = event.target;
  if (details.matches && details.matches("details[data-src]") && details.open) loadDetail(details);
}, true);

// A copy button copies the block it names; where the clipboard is not offered (plain
// HTTP), the block is selected so that the browser's own copy takes it.
function copyBlock(button) {
  const block = document.getElementById(button.dataset.copy);
  if (!block) return;
  const said = (text) => {
    button.textContent = text;
    setTimeout(() => { button.textContent = "Copy"; }, 1500);
  };
  const select = () => {
    const range = document.createRange();
    range.selectNodeContents(block);
    const selection = window.getSelection();
    selection.removeAllRanges();
    selection.addRange(range);
    said("Selected: press Ctrl+C");
  };
  if (navigator.clipboard && window.isSecureContext) {
    navigator.clipboard.writeText(block.textContent).then(() => said("Copied"), select);
  } else {
    select();
  }
}

document.addEventListener("click", (event) => {
  const copy = event.target.closest("button.copy");
  if (copy) {
    copyBlock(copy);
    event.preventDefault();
    return;
  }
  const tab = event.target.closest("[role=tab]");
  if (tab) selectTab(tab);
});

document.addEventListener("keydown", (event) => {
  const tab = event.target.closest && event.target.closest("[role=tab]");
  if (!tab || (event.key !== "ArrowRight" && event.key !== "ArrowLeft")) return;
  const tabs = [...tab.closest("[role=tablist]").querySelectorAll("[role=tab]")];
  const step = event.key === "ArrowRight" ? 1 : -1;
  selectTab(tabs[(tabs.indexOf(tab) + step + tabs.length) % tabs.length]);
  event.preventDefault();
});

// A new attempt joins its delivery's group (made if the page has none), and the group
// moves to the top: the list stays grouped by delivery, newest first.
function addAttempt(list, row) {
  if (list.querySelector(`li.delivery[data-id="${row.dataset.id}"]`)) return;
  row.classList.add("fresh");
  let group = [...list.children].find((item) => item.dataset.guid === row.dataset.guid);
  if (!group) {
    group = document.createElement("li");
    group.className = "group";
    group.dataset.guid = row.dataset.guid;
    const attempts = document.createElement("ol");
    attempts.className = "attempts";
    group.append(attempts);
  }
  group.querySelector("ol.attempts").prepend(row);
  list.prepend(group);
}

document.addEventListener("DOMContentLoaded", () => {
  const list = document.getElementById("delivery-list");
  if (!list || !list.dataset.live || !window.EventSource) return;
  const source = new EventSource(list.dataset.live);
  source.addEventListener("attempts", (event) => {
    const template = document.createElement("template");
    template.innerHTML = event.data;
    for (const row of [...template.content.children]) addAttempt(list, row);
    const empty = document.getElementById("no-deliveries");
    if (empty) empty.remove();
  });
  // The chart, drawn again by the server as attempts arrive.
  source.addEventListener("chart", (event) => {
    const chart = document.querySelector("figure.chart");
    if (!chart) return;
    const template = document.createElement("template");
    template.innerHTML = event.data;
    const drawn = template.content.firstElementChild;
    if (drawn) chart.replaceWith(drawn);
  });
});

// "just now" becomes "1 min ago" as time passes, as the server would write it.
function ago(at) {
  const seconds = Math.max(0, Math.floor((Date.now() - at) / 1000));
  if (seconds < 60) return "just now";
  if (seconds < 3600) return `${Math.floor(seconds / 60)} min ago`;
  if (seconds < 86400) return `${Math.floor(seconds / 3600)} h ago`;
  return `${Math.floor(seconds / 86400)} days ago`;
}
setInterval(() => {
  for (const time of document.querySelectorAll("time.ago[datetime]")) {
    const at = Date.parse(time.getAttribute("datetime"));
    if (!Number.isNaN(at)) time.textContent = ago(at);
  }
}, 10000);

// A hook page's "Recent Deliveries" and "Settings" are tabs: one shows at a time, the
// address says which (#settings), and a refused form opens Settings at its first problem.
function showSection(nav, id) {
  for (const link of nav.querySelectorAll("a[href^='#']")) {
    const section = document.getElementById(link.getAttribute("href").slice(1));
    if (!section) continue;
    const selected = section.id === id;
    section.hidden = !selected;
    if (selected) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
}

document.addEventListener("DOMContentLoaded", () => {
  const nav = document.querySelector("nav.tabs");
  if (!nav) {
    // A refused form without tabs: its first problem is brought into view too.
    const refused = document.querySelector(".field-error");
    if (refused) refused.scrollIntoView({ block: "center" });
    return;
  }
  const refused = document.querySelector("#settings .field-error, #settings [role=alert]");
  showSection(nav, refused || location.hash === "#settings" ? "settings" : "deliveries");
  if (refused) refused.scrollIntoView({ block: "center" });
  nav.addEventListener("click", (event) => {
    const link = event.target.closest("a[href^='#']");
    if (!link) return;
    event.preventDefault();
    const id = link.getAttribute("href").slice(1);
    showSection(nav, id);
    history.replaceState(null, "", "#" + id);
  });
});
