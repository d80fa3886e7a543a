// The page: the key field (this tab's session storage only), and the two views by URL hash.

import { apiKey, setApiKey } from "./api.js";
import { operator } from "./operator.js";
import { playground } from "./playground.js";

const views = { playground: playground(), operator: operator() };
const keyInput = document.getElementById("api-key");

function current() {
  const name = location.hash.slice(1);
  return name in views ? name : "playground";
}

function route() {
  const name = current();
  for (const [view, controller] of Object.entries(views)) {
    document.getElementById(view).hidden = view !== name;
    if (view !== name) controller.hide?.();
  }
  for (const link of document.querySelectorAll("nav a[data-view]")) {
    link.classList.toggle("active", link.dataset.view === name);
  }
  views[name].show?.();
}

function keyChanged() {
  setApiKey(keyInput.value.trim());
  views.playground.keyChanged();
  if (current() === "operator") views.operator.keyChanged();
}

keyInput.value = apiKey();
// Stored as it is typed, checked (a request) only once it is entered: the API counts refused
// keys per address and refuses every request from an address with too many.
keyInput.addEventListener("input", () => setApiKey(keyInput.value.trim()));
keyInput.addEventListener("change", keyChanged);
document.getElementById("key-form").addEventListener("submit", (event) => {
  event.preventDefault();
  keyChanged();
});
document.getElementById("forget-key").addEventListener("click", () => {
  keyInput.value = "";
  keyChanged();
});
window.addEventListener("hashchange", route);
route();
if (apiKey()) views.playground.keyChanged();
