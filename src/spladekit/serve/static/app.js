// The spladekit search page: plain JavaScript, no build step, no third-party code.
// Every value from the server is put in the page as text (textContent), never as HTML.
"use strict";

const KEY_STORAGE = "spladekit-api-key";
const $ = (id) => document.getElementById(id);

let apiKey = sessionStorage.getItem(KEY_STORAGE) || "";

class AuthNeeded extends Error {}
class NotReady extends Error {}

async function api(path, body) {
  const headers = { "Accept": "application/json" };
  if (apiKey) headers["Authorization"] = "Bearer " + apiKey;
  const init = { headers };
  if (body !== undefined) {
    init.method = "POST";
    headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const response = await fetch(path, init);
  let data = null;
  try {
    data = await response.json();
  } catch (_) {
    data = null;
  }
  if (response.status === 401) throw new AuthNeeded(data && data.error);
  if (response.status === 503) throw new NotReady(data && data.error);
  if (!response.ok) {
    throw new Error((data && data.error) || `the server answered ${response.status}`);
  }
  return data;
}

function element(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

function setStatus(text, isError) {
  const status = $("status");
  status.textContent = text;
  status.classList.toggle("error", Boolean(isError));
}

function askForKey(message) {
  $("search-form").hidden = true;
  $("key-form").hidden = false;
  setStatus(apiKey ? "That key was refused. " + (message || "") : "", Boolean(apiKey));
  $("api-key").focus();
}

async function connect() {
  try {
    const info = await api("/info");
    $("key-form").hidden = true;
    const where = info.collection ? `collection ${info.collection}` : "no collection";
    $("about").textContent = `${info.model_id} · ${info.backend} ${info.precision} · ${where}`;
    if (!info.collection) {
      setStatus("This server encodes only: it was started without a collection to search.");
      return;
    }
    // BM25 and hybrid need the collection's BM25 field: offer them only where it has one.
    const modes = info.search_modes || ["splade"];
    $("mode-label").hidden = modes.length < 2;
    for (const option of $("mode").options) option.disabled = !modes.includes(option.value);
    $("search-form").hidden = false;
    setStatus("");
    $("query").focus();
  } catch (error) {
    if (error instanceof AuthNeeded) {
      askForKey(error.message);
    } else if (error instanceof NotReady) {
      setStatus("The model is loading…");
      setTimeout(connect, 1000);
    } else {
      setStatus(error.message, true);
    }
  }
}

function drawTerms(list, terms) {
  list.replaceChildren();
  const heaviest = terms.length ? terms[0].weight : 1;
  for (const term of terms) {
    const row = element("li");
    row.append(element("span", "token", term.token));
    const bar = element("span", "bar");
    const fill = element("span", "fill");
    fill.style.width = `${Math.max(2, (100 * term.weight) / heaviest).toFixed(1)}%`;
    bar.append(fill);
    row.append(bar, element("span", "weight", term.weight.toFixed(2)));
    list.append(row);
  }
}

function drawHit(hit, rank) {
  const item = element("li", "hit");
  item.dataset.id = hit.id;
  const head = element("div", "hit-head");
  head.append(
    element("span", "doc-id", hit.id),
    element("span", "score", `score ${hit.score.toFixed(3)}`),
  );
  item.append(head, element("p", "text", hit.text));
  const keys = Object.keys(hit.metadata || {});
  if (keys.length) {
    const meta = element("dl", "metadata");
    for (const key of keys) {
      const value = hit.metadata[key];
      meta.append(
        element("dt", "", key),
        element("dd", "", typeof value === "string" ? value : JSON.stringify(value)),
      );
    }
    item.append(meta);
  }
  const matches = element("div", "matches");
  matches.setAttribute("aria-label", "matching terms (query weight × document weight)");
  for (const term of hit.terms) {
    const chip = element("span", "term", term.token);
    chip.append(element("small", "", term.weight.toFixed(2)));
    matches.append(chip);
  }
  item.append(matches);
  item.setAttribute("aria-posinset", String(rank));
  return item;
}

async function search(event) {
  event.preventDefault();
  const query = $("query").value;
  const request = { query, k: Number($("k").value) || 10 };
  if (!$("mode-label").hidden) request.mode = $("mode").value;
  const filter = $("filter").value.trim();
  if (filter) request.filter = filter;
  setStatus("Searching…");
  const started = performance.now();
  try {
    const result = await api("/search", request);
    const ms = Math.round(performance.now() - started);
    drawTerms($("query-terms"), result.query_terms);
    $("expansion").hidden = false;
    $("hits").replaceChildren(...result.hits.map((hit, i) => drawHit(hit, i + 1)));
    $("results").hidden = false;
    const count = result.hits.length;
    setStatus(`${count} hit${count === 1 ? "" : "s"} in ${ms} ms`);
  } catch (error) {
    if (error instanceof AuthNeeded) askForKey(error.message);
    else setStatus(error.message, true);
  }
}

function useKey(event) {
  event.preventDefault();
  apiKey = $("api-key").value.trim();
  sessionStorage.setItem(KEY_STORAGE, apiKey);
  $("api-key").value = "";
  connect();
}

document.addEventListener("DOMContentLoaded", () => {
  $("search-form").addEventListener("submit", search);
  $("key-form").addEventListener("submit", useKey);
  connect();
});
