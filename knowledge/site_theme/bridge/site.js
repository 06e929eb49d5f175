// What the mkdocs theme sets in an inline script, read from this tag's data attributes instead.
(function () {
  var tag = document.currentScript;
  window.base_url = tag.getAttribute("data-base-url") || ".";
  window.shortcuts = JSON.parse(tag.getAttribute("data-shortcuts") || "{}");
})();
