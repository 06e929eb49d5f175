// Keyboard shortcuts: "/" focuses the search box; Escape closes the suggestions.
document.addEventListener("keydown", function (event) {
  var search = document.getElementById("global-search");
  if (!search) return;
  var typing = /^(INPUT|TEXTAREA|SELECT)$/.test(document.activeElement.tagName) || document.activeElement.isContentEditable;
  if (event.key === "/" && !typing && !event.ctrlKey && !event.metaKey && !event.altKey) {
    event.preventDefault();
    search.focus();
    search.select();
  } else if (event.key === "Escape" && document.activeElement === search) {
    var box = document.getElementById("search-suggestions");
    if (box) box.innerHTML = "";
  }
});

// Polled lists (data-poll-unless-busy): skip a poll while the cursor is inside or a save is in
// flight, so a note being typed or a tick being sent is not replaced by the older server copy.
document.addEventListener("htmx:beforeRequest", function (event) {
  var elt = event.detail.elt;
  if (!elt.hasAttribute || !elt.hasAttribute("data-poll-unless-busy")) return;
  if (elt.contains(document.activeElement) || elt.querySelector(".htmx-request")) event.preventDefault();
});

// A refused step update (403) comes with a fragment that says why: show it instead of nothing.
document.addEventListener("htmx:beforeSwap", function (event) {
  var elt = event.detail.requestConfig && event.detail.requestConfig.elt;
  if (event.detail.xhr.status === 403 && elt && elt.closest && elt.closest(".kb-step")) {
    event.detail.shouldSwap = true;
    event.detail.isError = false;
  }
});

// New page: choosing another kind puts that kind's starting text in the editor, unless the
// text was already changed by hand.
document.addEventListener("change", function (event) {
  var select = event.target;
  if (select.name !== "kind" || !select.form) return;
  var body = select.form.querySelector("textarea[data-kind-template]");
  if (!body) return;
  if (body.dataset.pristine === undefined) body.dataset.pristine = body.defaultValue;
  if (body.value.trim() !== "" && body.value !== body.dataset.pristine) return;
  var title = select.form.querySelector("[name=title]");
  var url = body.dataset.kindTemplate + "?kind=" + encodeURIComponent(select.value) +
    "&title=" + encodeURIComponent(title ? title.value : "");
  fetch(url, { credentials: "same-origin" })
    .then(function (response) { return response.ok ? response.text() : null; })
    .then(function (text) {
      if (text === null) return;
      body.value = text;
      body.dataset.pristine = text;
      body.dispatchEvent(new Event("input", { bubbles: true }));
    });
});

// API Definition tab: Swagger UI renders the OpenAPI document embedded as JSON in the page. Its
// script (a static file from drf-spectacular-sidecar, no CDN) is loaded the first time a page
// needs it, also when the tab arrives through htmx. Requests cannot be sent from here.
function bridgeOpenApi(root) {
  var boxes = (root || document).querySelectorAll("[data-openapi-ui]:not([data-rendered])");
  if (!boxes.length) return;
  function render() {
    boxes.forEach(function (box) {
      var data = document.getElementById(box.dataset.openapiUi);
      if (!data) return;
      box.setAttribute("data-rendered", "");
      box.innerHTML = "";
      window.SwaggerUIBundle({
        spec: JSON.parse(data.textContent),
        domNode: box,
        deepLinking: false,
        supportedSubmitMethods: [],
        validatorUrl: null,
        defaultModelsExpandDepth: 0,
        presets: [window.SwaggerUIBundle.presets.apis],
        layout: "BaseLayout",
      });
    });
  }
  if (window.SwaggerUIBundle) return render();
  var src = boxes[0].dataset.swaggerUiJs;
  var script = document.querySelector('script[src="' + src + '"]');
  if (!script) {
    script = document.createElement("script");
    script.src = src;
    document.head.appendChild(script);
  }
  script.addEventListener("load", render);
}
document.addEventListener("DOMContentLoaded", function () { bridgeOpenApi(document); });
document.addEventListener("htmx:afterSettle", function (event) { bridgeOpenApi(event.detail.elt); });

// Dependency graph: zoom buttons scale the drawing; the box around it scrolls both ways.
document.addEventListener("click", function (event) {
  var button = event.target.closest && event.target.closest("[data-graph-zoom]");
  if (!button) return;
  var figure = button.closest(".graph-figure");
  var svg = figure && figure.querySelector("svg.dependency-graph");
  if (!svg) return;
  var width = Number(svg.dataset.width), height = Number(svg.dataset.height);
  var scale = Number(svg.dataset.scale || 1);
  var action = button.dataset.graphZoom;
  if (action === "in") scale = Math.min(4, scale * 1.25);
  else if (action === "out") scale = Math.max(0.1, scale / 1.25);
  else if (action === "reset") scale = 1;
  else if (action === "fit") scale = Math.max(0.1, (figure.querySelector(".graph-scroll").clientWidth - 2) / width);
  svg.dataset.scale = scale;
  svg.setAttribute("width", Math.round(width * scale));
  svg.setAttribute("height", Math.round(height * scale));
  var label = figure.querySelector(".graph-scale");
  if (label) label.textContent = Math.round(scale * 100) + "%";
});

// A region that scrolls (a wide table, a long code line, a log) takes the keyboard focus while it
// overflows, so that it can be scrolled without a mouse; a region that fits leaves the tab order.
var SCROLLERS = ".card, .table-scroll, pre, .markdown table, .graph-scroll, .kb-preview, [data-scrolls]";
function keyboardScrollers() {
  document.querySelectorAll(SCROLLERS).forEach(function (element) {
    var overflows = element.scrollWidth > element.clientWidth + 1 || element.scrollHeight > element.clientHeight + 1;
    if (overflows && !element.hasAttribute("tabindex")) {
      element.setAttribute("tabindex", "0");
      element.dataset.scrollFocus = "";
    } else if (!overflows && element.dataset.scrollFocus !== undefined) {
      element.removeAttribute("tabindex");
      delete element.dataset.scrollFocus;
    }
  });
}
var scrollersPending = false;
function keyboardScrollersSoon() {
  if (scrollersPending) return;
  scrollersPending = true;
  requestAnimationFrame(function () { scrollersPending = false; keyboardScrollers(); });
}
keyboardScrollers();
window.addEventListener("resize", keyboardScrollersSoon);
window.addEventListener("load", keyboardScrollersSoon);
// Content htmx has just put in place is measured at once, not on the next frame: a keyboard user
// (or a checker) who reaches a preview right after it settles finds it focusable already.
document.addEventListener("htmx:afterSettle", keyboardScrollers);

// Forms that ask before they act (data-confirm="Remove this location?"): no inline handlers,
// which the Content Security Policy refuses.
document.addEventListener("submit", function (event) {
  var question = event.target.getAttribute && event.target.getAttribute("data-confirm");
  if (question && !window.confirm(question)) event.preventDefault();
});
