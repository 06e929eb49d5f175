// Search of a built Bridge space: the search index, matched in the page (no Web Worker, no lunr).
// The theme puts the search box after the scripts, hence DOMContentLoaded.
document.addEventListener("DOMContentLoaded", function () {
  var input = document.getElementById("mkdocs-search-query");
  var output = document.getElementById("mkdocs-search-results");
  if (!input || !output) return;
  var docs = null;

  function escapeHtml(value) {
    return String(value).replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
  }

  function link(location) {
    var base = window.base_url || ".";
    return (base.charAt(base.length - 1) === "/" ? base : base + "/") + location;
  }

  function show() {
    if (docs === null) return;
    var words = input.value.toLowerCase().split(/\s+/).filter(function (w) { return w.length > 1; });
    output.textContent = "";
    if (!words.length) return;
    var found = docs.map(function (doc) {
      var title = (doc.title || "").toLowerCase(), text = (doc.text || "").toLowerCase(), score = 0;
      for (var i = 0; i < words.length; i++) {
        var inTitle = title.indexOf(words[i]) >= 0, inText = text.indexOf(words[i]) >= 0;
        if (!inTitle && !inText) return null;
        score += (inTitle ? 10 : 0) + (inText ? 1 : 0);
      }
      return { doc: doc, score: score };
    }).filter(Boolean).sort(function (a, b) { return b.score - a.score; }).slice(0, 30);
    if (!found.length) {
      output.insertAdjacentHTML("beforeend", "<p>" + escapeHtml(output.getAttribute("data-no-results-text") || "No results found") + "</p>");
      return;
    }
    found.forEach(function (hit) {
      var doc = hit.doc;
      output.insertAdjacentHTML("beforeend",
        '<article><h3><a href="' + escapeHtml(link(doc.location)) + '">' + escapeHtml(doc.title) + "</a></h3><p>" +
        escapeHtml((doc.text || "").substring(0, 200)) + "</p></article>");
    });
  }

  fetch(link("search/search_index.json")).then(function (r) { return r.json(); }).then(function (data) {
    docs = data.docs || [];
    var term = new URLSearchParams(window.location.search).get("q");
    if (term) input.value = term;
    show();
  });
  input.addEventListener("input", show);
});
